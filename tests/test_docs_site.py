"""The offline docs site (`make docs`, tools/docs.py) built from scratch and opened page by page in headless Chromium
(Debian's package; .ci/run installs it): every page loads without console errors, shows no error output, has the
API entry (show_doc) of every exported function and class, images that load, and every link inside the site
resolves, anchors included."""
import json, os, shutil, subprocess, sys
from pathlib import Path
import pytest
from conftest import ROOT

CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')


@pytest.fixture(scope='module')
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp('docs')
    proc = subprocess.run([sys.executable, 'tools/docs.py', '--out', str(out)], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, 'OMP_NUM_THREADS': '1'}, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out


def docs_module():
    "tools/docs.py, the builder the site comes from."
    if str(ROOT / 'tools') not in sys.path: sys.path.insert(0, str(ROOT / 'tools'))
    import docs
    return docs


def expected_pages() -> list[str]:
    "The page of each notebook of the sidebar."
    docs = docs_module()
    return [docs.page_name(nb) for _, notebooks in docs.sidebar() for nb in notebooks]


def test_the_sidebar_lists_every_notebook_once_under_distinct_page_names():
    pages = expected_pages()
    listed = [nb for _, nbs in docs_module().sidebar() for nb in nbs]
    assert sorted(listed) == sorted(p.name for p in (ROOT / 'nbs').glob('*.ipynb')) and len(set(listed)) == len(listed)
    assert len(set(pages)) == len(listed)  # no two notebooks become the same page


def test_no_cell_that_nbdev_docs_would_run_mixes_imports_with_other_code():
    "nbdev's exec_show_docs runs every cell that imports (its own rule, `_do_eval`): such a cell must hold imports only."
    import warnings
    from nbdev.processors import NBProcessor, _do_eval
    mixed = []
    for path in sorted((ROOT / 'nbs').glob('*.ipynb')):
        nb = NBProcessor(path).nb
        if 'skip_exec: true' in path.read_text(): continue  # the reports: nothing of theirs runs for the docs
        for cell in nb.cells:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter('always'); _do_eval(cell)
            if caught: mixed.append(f'{path.name} cell {cell.idx_}')
    assert not mixed, mixed


def api_entries() -> dict[str, set[str]]:
    "Page -> the anchors of its exported functions and classes (nbdev's index of the package, `__all__` of each module)."
    import importlib, inspect
    from tsic._modidx import d
    entries = {}
    for module_name, symbols in d['syms'].items():
        module = importlib.import_module(module_name)
        for symbol, (url, _) in symbols.items():
            name = symbol[len(module_name) + 1:]
            if name in getattr(module, '__all__', []) and (inspect.isfunction(getattr(module, name)) or inspect.isclass(getattr(module, name))):
                page, anchor = url.split('#')
                entries.setdefault(page, set()).add(anchor)
    return entries


def test_every_method_entry_is_on_the_page_its_links_point_to():
    "A `show_doc(Class.method)` makes its anchor on its own page; links go to the page of Class's module: they must agree."
    import re
    from tsic._modidx import d
    urls = {symbol: url for symbols in d['syms'].values() for symbol, (url, _) in symbols.items()}
    docs, misplaced, checked = docs_module(), [], 0
    for path in sorted((ROOT / 'nbs').glob('*.ipynb')):
        for cell in json.loads(path.read_text())['cells']:
            for name in re.findall(r'show_doc\((\w+\.\w+)\)', ''.join(cell['source'])):
                found = [url for symbol, url in urls.items() if symbol.endswith('.' + name)]
                assert len(found) == 1, f'{path.name}: show_doc({name}) is not one entry of nbdev\'s index: {found}'
                checked += 1
                if found[0].split('#')[0] != docs.page_name(path.name): misplaced.append(f'{path.name}: {name} -> {found[0]}')
    assert checked and not misplaced, misplaced


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed: .ci/run installs it (apt-get install chromium)")
def test_every_page_loads_cleanly_with_its_api_entries_figures_and_working_links(site):
    from playwright.sync_api import sync_playwright
    pages = expected_pages()
    built = json.loads((site / 'pages.json').read_text())
    assert sorted(r['page'] for r in built) == sorted(pages) and not any(r['errors'] for r in built)
    problems, ids, anchors, images = [], {}, [], 0
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=['--no-sandbox'])
        tab = browser.new_page()
        messages = []
        def console(m):  # offline, an external resource (the Colab badge) cannot load: anything else is an error
            if m.type == 'error' and not (m.location or {}).get('url', '').startswith('http'): messages.append(f'console {m.type}: {m.text}')
        tab.on('console', console)
        tab.on('pageerror', lambda e: messages.append(f'page error: {e}'))
        for name in pages:
            messages.clear()
            tab.goto((site / name).as_uri(), wait_until='load')
            problems += [f'{name}: {m}' for m in messages]
            ids[name] = set(tab.eval_on_selector_all('[id]', 'els => els.map(e => e.id)'))
            if tab.locator('text=Traceback (most recent call last)').count(): problems.append(f'{name}: an error output is shown')
            images += tab.locator('main img').count()
            broken = tab.eval_on_selector_all('main img', 'imgs => imgs.filter(i => !i.src.startsWith("http") && !(i.complete && i.naturalWidth > 0)).length')
            if broken: problems.append(f'{name}: {broken} images do not load')
            for href in tab.eval_on_selector_all('a[href]', 'as => as.map(a => a.getAttribute("href"))'):
                if href.startswith(('http://', 'https://', 'mailto:')): continue
                target, _, anchor = href.partition('#')
                target = target or name
                if not (site / target).exists(): problems.append(f'{name}: link to {href}: no such page')
                elif anchor: anchors.append((name, target, anchor))
        browser.close()
    problems += [f'{name}: link to {target}#{anchor}: no such anchor' for name, target, anchor in anchors
                 if target in ids and anchor not in ids[target]]
    entries = api_entries()
    problems += [f'{page}: no API entry for {anchor}' for page, anchors in entries.items() for anchor in sorted(anchors - ids[page])]
    assert sum(map(len, entries.values())) > 100  # every exported function and class has its entry
    assert not problems, '\n'.join(problems[:40])
    assert images >= 10, images  # the notebooks draw charts, encodings, curves and confusion matrices: they are on the pages
    assert len(anchors) >= 20, anchors  # the pages link to each other's API entries


def test_every_name_nbdev_links_in_prose_or_docstrings_has_its_entry():
    """nbdev turns a backticked name in prose or in a shown docstring into a link to its entry: a private helper or a
    method without `show_doc` has none, and the link would lead nowhere (the site test finds it, 40 minutes later)."""
    import importlib, inspect, re
    from nbdev.doclinks import NbdevLookup
    from nbdev.config import get_config
    cfg, lookup = get_config(), NbdevLookup()
    home = f'{cfg.doc_host}{cfg.doc_baseurl}/'
    targets = {f'{page}#{anchor}' for page, anchors in api_entries().items() for anchor in anchors}
    texts = []
    for path in sorted((ROOT / 'nbs').glob('*.ipynb')):
        for cell in json.loads(path.read_text())['cells']:
            source = ''.join(cell['source'])
            if cell['cell_type'] == 'markdown': texts.append((path.name, source))
            shown = re.findall(r'show_doc\((\w+\.\w+)', source)  # a method shown by hand; a patched one is shown by nbdev
            shown += [f'{cls}.{name}' for name, cls in re.findall(r'@patch[^\n]*\n(?:@[^\n]*\n)*def (\w+)\(self: (\w+)', source)]
            targets |= {f"{docs_module().page_name(path.name)}#{name.lower()}" for name in shown}
    for module_name in importlib.import_module('tsic._modidx').d['syms']:
        module = importlib.import_module(module_name)
        for name in getattr(module, '__all__', []):
            obj = getattr(module, name)
            if inspect.isfunction(obj) or inspect.isclass(obj): texts.append((f'{module_name}.{name}', inspect.getdoc(obj) or ''))
    broken = sorted({f'{where}: `{text}` -> {url}' for where, source in texts
                     for text, url in re.findall(r'\[`([^`]+)`\]\(([^)]+)\)', lookup.linkify(source) or '')
                     if url.startswith(home) and '#' in url and url[len(home):] not in targets})
    assert len(texts) > 100 and not broken, '\n'.join(broken)
