"""`make tutorials`: run the tutorial notebooks (nbs/tutorial_*.ipynb) top to bottom and keep their outputs.

The tutorials are stored executed, so the docs site shows their outputs without running them (their frontmatter has
`skip_exec: true`, so neither `nbdev_test` nor `tools/docs.py` runs them; tests/test_tutorials.py does). Each runs in
a fresh kernel from nbs/, as Jupyter runs it, and stops at the first error. What they write goes under
runs/tutorials/ (and the demo dataset under data/), as a user's run would. The stored copy records a hash of its code
cells (`metadata.tsic.code_sha`), so a cell edited after the run is caught by the tests.

    python tools/tutorials.py [--only quick_start deployment] [--check]   # --check: run, but write nothing back
"""
import argparse, hashlib, os, sys, time
from pathlib import Path
import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT / 'nbs'


def tutorials(only=None) -> list[Path]:
    "The tutorial notebooks, or those whose name (without `tutorial_` and `.ipynb`) is in `only`."
    found = sorted(NBS.glob('tutorial_*.ipynb'))
    if only:
        unknown = set(only) - {p.stem.removeprefix('tutorial_') for p in found}
        if unknown: raise SystemExit(f"no tutorial named {', '.join(sorted(unknown))}; there are: {', '.join(p.stem for p in found)}")
        found = [p for p in found if p.stem.removeprefix('tutorial_') in only]
    return found


def code_sha(nb) -> str:
    "Hash of the notebook's code cells, in order: what the stored outputs were produced by."
    return hashlib.sha256('\0'.join(c.source for c in nb.cells if c.cell_type == 'code').encode()).hexdigest()[:16]


def execute(path: Path, timeout: int = 1200) -> nbformat.NotebookNode:
    "The notebook at `path` run top to bottom in a fresh kernel with nbs/ as working directory (raises at the first error)."
    nb = nbformat.read(path, as_version=4)
    scripts = str(Path(sys.executable).parent)  # `!tsic ...` in a cell is this environment's tsic
    if scripts not in os.environ['PATH'].split(os.pathsep): os.environ['PATH'] = scripts + os.pathsep + os.environ['PATH']
    NotebookClient(nb, timeout=timeout, kernel_name='python3', record_timing=False,
                   resources={'metadata': {'path': str(NBS)}}).execute()
    nb.metadata['tsic'] = {'code_sha': code_sha(nb)}
    return nb


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--only', nargs='*')
    p.add_argument('--check', action='store_true', help='run them, but do not write the outputs back')
    a = p.parse_args(argv)
    for path in tutorials(a.only):
        start = time.perf_counter()
        nb = execute(path)
        if not a.check: nbformat.write(nb, path)
        print(f"{path.name}: {time.perf_counter() - start:.0f} s", flush=True)


if __name__ == '__main__':
    sys.exit(main())
