"""`make docs`: every page of the docs site rendered offline into docs/ as standalone HTML.

The published site is nbdev's Quarto build (`nbdev_docs`, .github/workflows/deploy.yaml). Quarto cannot be installed
on machines without internet, so this renders the same pages without it:
1. each notebook of nbs/sidebar.yml runs as `nbdev_test` runs it, its outputs kept (cells flagged `#| slow` or
   `#| eval: false` are not run, nor notebooks with `skip_exec`: the papermill report templates);
2. nbdev's own processors for the site (`FilterDefaults`: frontmatter, show_doc tables, hidden cells, `#| echo:
   false`, links between pages) are applied to the executed copy;
3. nbconvert writes the page under the name Quarto gives it (`00_config.ipynb` -> `config.html`), with the sidebar
   of nbs/sidebar.yml; links to the site's address become relative, so the pages work from disk.
Differences from Quarto: nbconvert's page style, no search box, formulas and Quarto-only markdown (callouts, tabsets)
left as text (no CDN offline).

    python tools/docs.py [--out docs] [--only 01_charts 03_metrics] [--workers 2]
"""
import argparse, html, json, multiprocessing, os, re, sys, time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
import yaml

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT / 'nbs'


def sidebar() -> list[tuple[str | None, list[str]]]:
    "The sections of nbs/sidebar.yml as (title, notebooks); the home page's entry has no title."
    sections = []
    for entry in yaml.safe_load((NBS / 'sidebar.yml').read_text())['website']['sidebar']['contents']:
        sections.append((None, [entry]) if isinstance(entry, str) else (entry['section'], list(entry['contents'])))
    missing = [nb for _, nbs in sections for nb in nbs if not (NBS / nb).exists()]
    if missing: raise SystemExit(f"nbs/sidebar.yml names notebooks that do not exist: {', '.join(missing)}")
    return sections


def page_name(notebook: str) -> str:
    "The page Quarto writes for `notebook` (nbdev's rule: lower case, without the number prefix)."
    from nbdev.doclinks import _nbpath2html
    return _nbpath2html(Path(notebook)).name


def run_notebook(path: Path):
    "The notebook `path` (execnb's object, its #| lines parsed and removed) with its cells run as nbdev_test runs them."
    from execnb.shell import CaptureShell
    from fastcore.xtras import working_directory
    from nbdev.config import get_config
    from nbdev.frontmatter import FrontmatterProc
    from nbdev.processors import NBProcessor
    nb = NBProcessor(path, procs=FrontmatterProc, process=True).nb
    if str(nb.frontmatter_.get('skip_exec', False)).lower() == 'true': return nb
    skip = set(get_config().tst_flags.split())
    def no_eval(cell):
        if cell.cell_type != 'code': return True
        directives = getattr(cell, 'directives_', {}) or {}
        return directives.get('eval:', [''])[0].lower() == 'false' or bool(skip & directives.keys())
    os.environ['IN_TEST'] = '1'
    shell = CaptureShell(path)
    with working_directory(path.parent): shell.run_all(nb, exc_stop=True, preproc=no_eval)
    return nb


def with_outputs(path: Path):
    "The notebook `path` as stored (its #| lines intact, for nbdev's processors) with the outputs of running it."
    from execnb.nbio import read_nb
    ran = {c.get('id'): c for c in run_notebook(path).cells if c.cell_type == 'code'}
    nb = read_nb(path)
    for cell in nb.cells:
        if cell.cell_type == 'code' and cell.get('id') in ran: cell.outputs = ran[cell.id].get('outputs', [])
    return nb


def _as_under_nbdev_test():
    "In a spawned worker: the notebook's own process pools fork, as under nbdev_test (their functions live in __main__)."
    multiprocessing.set_start_method('fork', force=True)


def render_or_error(notebook: str, out: Path, nav: str) -> dict:
    "`render`, or the error that stopped it (every page is tried; the build fails at the end)."
    _as_under_nbdev_test()
    try: return render(notebook, out, nav)
    except Exception:
        import traceback
        return {'notebook': notebook, 'page': page_name(notebook), 'seconds': None, 'errors': [traceback.format_exc()[-4000:]]}


def render(notebook: str, out: Path, nav: str) -> dict:
    "Run, process and write one page; what the test and the log need: its name, seconds, errors shown."
    from execnb.nbio import nb2str
    import nbformat
    from nbconvert import HTMLExporter
    from nbdev.processors import FilterDefaults
    from nbdev.config import get_config
    import warnings
    warnings.filterwarnings('error', message='Found cells containing imports')  # nbdev_docs would run such a cell: fix it
    start = time.perf_counter()
    nb = with_outputs(NBS / notebook)
    FilterDefaults()(nb)
    node = nbformat.reads(nb2str(nb), as_version=4)
    for cell in node.cells:  # show_doc's "[source](url){target=...}": Quarto's link attributes, as HTML
        for o in cell.get('outputs', []):
            if 'text/markdown' in o.get('data', {}): o.data['text/markdown'] = QUARTO_LINK.sub(_link, o.data['text/markdown'])
    front = {}
    if node.cells and node.cells[0].cell_type == 'raw' and node.cells[0].source.startswith('---'):
        front = yaml.safe_load(node.cells.pop(0).source.strip('-\n')) or {}
    for cell in node.cells:  # Quarto's cell options that nbconvert does not know
        options = dict(re.findall(r'^#\|\s*([\w-]+):\s*(.*)$', cell.source, re.M)) if cell.cell_type == 'code' else {}
        if options.get('echo') == 'false': cell.metadata['transient'] = {'remove_source': True}
        cell.source = re.sub(r'^#\|.*\n?', '', cell.source, flags=re.M) if cell.cell_type == 'code' else cell.source
    errors = [o.get('ename') for c in node.cells if c.cell_type == 'code' for o in c.get('outputs', []) if o.get('output_type') == 'error']
    exporter = HTMLExporter(template_name='lab', exclude_input_prompt=True, exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(node, resources={'metadata': {'name': front.get('title', notebook)}})
    cfg = get_config()
    body = body.replace(f"{cfg.doc_host}{cfg.doc_baseurl}/", '')  # the site's own address: relative links
    # links between notebooks (`[home page](index.ipynb)`) go to their pages, as Quarto rewrites them
    body = re.sub(r'href="([\w./-]+)\.ipynb(#[^"]*)?"', lambda m: f'href="{page_name(m.group(1) + ".ipynb")}{m.group(2) or ""}"', body)
    # heading ids in lower case, as Quarto writes them and nbdev's links expect (`labels.html#chartdatasetspec`)
    body = re.sub(r'(<h[1-6][^>]*\sid=")([^"]+)(")', lambda m: m.group(1) + m.group(2).lower() + m.group(3), body)
    body = re.sub(r'(href="#)([^"]+)(")', lambda m: m.group(1) + m.group(2).lower() + m.group(3), body)
    # no scripts from a CDN offline: require.js serves widgets only (none here); MathJax's web fonts cannot load from
    # file:// either, so formulas stay as TeX text in this copy (the published site typesets them)
    body = re.sub(r'<script src="https://[^"]*(require|mathjax)[^"]*">\s*</script>', '', body)
    title = html.escape(str(front.get('title', notebook)))
    header = f'<header class="tsic-title"><h1>{title}</h1>' + (f'<p class="description">{html.escape(str(front["description"]))}</p>' if front.get('description') else '') + '</header>'
    body = re.sub(r'(<body[^>]*>)', lambda m: m.group(1) + nav.replace(f'href="{page_name(notebook)}"', f'href="{page_name(notebook)}" class="current"') + '<main class="tsic-page">' + header, body, count=1)
    body = body.replace('</body>', '</main></body>').replace('</head>', STYLE + '</head>')
    (out / page_name(notebook)).write_text(body)
    return {'notebook': notebook, 'page': page_name(notebook), 'seconds': round(time.perf_counter() - start, 1), 'errors': errors}


QUARTO_LINK = re.compile(r'\[([^\]]+)\]\(([^)\s]+)\)\{([^}]*)\}')


def _link(m) -> str:
    return f'<a href="{html.escape(m.group(2))}" {m.group(3)}>{html.escape(m.group(1))}</a>'


STYLE = """<style>
nav.tsic-nav { position: fixed; top: 0; left: 0; bottom: 0; width: 15rem; overflow-y: auto; padding: 1rem; background: #f7f7f9;
  border-right: 1px solid #ddd; font: 14px/1.5 system-ui, sans-serif; }
nav.tsic-nav h4 { margin: 1rem 0 .3rem; font-size: 13px; text-transform: uppercase; color: #666; }
nav.tsic-nav a { display: block; color: #1a5fb4; text-decoration: none; padding: 1px 0; }
nav.tsic-nav a.current { font-weight: bold; color: #000; }
main.tsic-page { margin-left: 16rem; }
header.tsic-title { padding: 1rem 2rem 0; }
header.tsic-title p.description { font-style: italic; font-size: 125%; opacity: .7; }
</style>
"""


def navigation(sections) -> str:
    "The sidebar: each section's pages, titled by their notebooks' frontmatter."
    from nbdev.processors import NBProcessor
    from nbdev.frontmatter import FrontmatterProc
    parts = ['<nav class="tsic-nav">']
    for title, notebooks in sections:
        if title: parts.append(f'<h4>{html.escape(title)}</h4>')
        for nb in notebooks:
            name = NBProcessor(NBS / nb, procs=FrontmatterProc, process=True).nb.frontmatter_.get('title', nb)
            parts.append(f'<a href="{page_name(nb)}">{html.escape(str(name))}</a>')
    return ''.join(parts) + '</nav>'


def run_and_save(notebook: str) -> str:
    "Run `notebook` as nbdev_test does and write it back with its outputs."
    from execnb.nbio import write_nb
    _as_under_nbdev_test()
    write_nb(with_outputs(NBS / notebook), NBS / notebook)
    return notebook


def execute_in_place(notebooks: list[str], workers: int):
    "The notebooks run and saved with their outputs, for Quarto to show (in a CI checkout: never committed)."
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context('spawn'), max_tasks_per_child=1) as pool:
        for nb in pool.map(run_and_save, notebooks): print(f"ran {nb}", flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--out', default=str(ROOT / 'docs'))
    p.add_argument('--only', nargs='*', help='these notebooks only (names without .ipynb)')
    p.add_argument('--workers', type=int, default=2)
    p.add_argument('--execute-in-place', action='store_true',
                   help="only run the notebooks and keep their outputs in nbs/ (the deploy workflow, before nbdev_docs: Quarto does not run them)")
    a = p.parse_args(argv)
    out = Path(a.out).resolve()
    os.chdir(ROOT)
    sections = sidebar()
    notebooks = [nb for _, nbs in sections for nb in nbs if not a.only or Path(nb).stem in a.only]
    unknown = set(a.only or []) - {Path(nb).stem for nb in notebooks}
    if unknown: p.error(f"--only: not in nbs/sidebar.yml: {', '.join(sorted(unknown))}")
    if a.execute_in_place: return execute_in_place(notebooks, a.workers)
    out.mkdir(parents=True, exist_ok=True)
    nav = navigation(sections)
    start, results = time.perf_counter(), []
    with ProcessPoolExecutor(a.workers, mp_context=multiprocessing.get_context('spawn'), max_tasks_per_child=1) as pool:  # one fresh interpreter per notebook
        for r in pool.map(render_or_error, notebooks, [out] * len(notebooks), [nav] * len(notebooks)):
            print(f"{r['page']:28s} {r['seconds'] or 0:6.1f} s  from {r['notebook']}" + (f"  ERRORS: {r['errors']}" if r['errors'] else ''), flush=True)
            results.append(r)
    (out / 'pages.json').write_text(json.dumps(results, indent=1))
    print(f"{len(results)} pages in {out} ({time.perf_counter() - start:.0f} s)")
    if any(r['errors'] for r in results): sys.exit(1)


if __name__ == '__main__':
    main()
