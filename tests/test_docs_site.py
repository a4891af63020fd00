"""The offline docs site (`make docs`, tools/docs.py) built from scratch and opened page by page in headless Chromium
(Debian's package; .ci/run installs it): every page loads without console errors, shows no error output, has the
API entries and the figures its notebook makes, and every link inside the site resolves, anchors included."""
import json, shutil, subprocess, sys
from pathlib import Path
import pytest
from conftest import ROOT

CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')


@pytest.fixture(scope='module')
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp('docs')
    proc = subprocess.run([sys.executable, 'tools/docs.py', '--out', str(out)], cwd=ROOT, capture_output=True, text=True,
                          env={**__import__('os').environ, 'OMP_NUM_THREADS': '1'}, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out


def expected_pages() -> dict[str, dict]:
    "Page name -> what its notebook holds: exported names (show_doc entries) and whether it runs (figures come from running)."
    sys.path.insert(0, str(ROOT / 'tools'))
    import docs
    pages = {}
    for _, notebooks in docs.sidebar():
        for nb in notebooks:
            text = (ROOT / 'nbs' / nb).read_text()
            pages[docs.page_name(nb)] = {'exports': '#| export' in text, 'runs': 'skip_exec: true' not in text}
    return pages


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
        tab.on('console', lambda m: messages.append(f'console {m.type}: {m.text}') if m.type == 'error' else None)
        tab.on('pageerror', lambda e: messages.append(f'page error: {e}'))
        for name, info in pages.items():
            messages.clear()
            tab.goto((site / name).as_uri(), wait_until='load')
            problems += [f'{name}: {m}' for m in messages]
            ids[name] = set(tab.eval_on_selector_all('[id]', 'els => els.map(e => e.id)'))
            if tab.locator('text=Traceback (most recent call last)').count(): problems.append(f'{name}: an error output is shown')
            if info['exports'] and not tab.locator('.jp-RenderedMarkdown h3').count():
                problems.append(f'{name}: exports functions but shows no API entry')
            images += tab.locator('main img').count()
            broken = tab.eval_on_selector_all('main img', 'imgs => imgs.filter(i => !(i.complete && i.naturalWidth > 0)).length')
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
    assert not problems, '\n'.join(problems[:40])
    assert images >= 10, images  # the notebooks draw charts, encodings, curves and confusion matrices: they are on the pages
    assert len(anchors) >= 20, anchors  # the pages link to each other's API entries
