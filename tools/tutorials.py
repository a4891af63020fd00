"""`make tutorials`: run the tutorial notebooks (nbs/tutorial_*.ipynb) top to bottom and keep their outputs.

The tutorials are stored executed, so the docs site shows their outputs without running them (their frontmatter has
`skip_exec: true`, so neither `nbdev_test` nor `tools/docs.py` runs them; tests/test_tutorials.py does). Each runs in
a fresh kernel from nbs/, as Jupyter runs it, and stops at the first error.

    python tools/tutorials.py [--only quick_start deployment] [--check]   # --check: run, but write nothing back
"""
import argparse, os, sys, time
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


def execute(path: Path, timeout: int = 1200) -> nbformat.NotebookNode:
    "The notebook at `path` run top to bottom in a fresh kernel with nbs/ as working directory (raises at the first error)."
    nb = nbformat.read(path, as_version=4)
    os.environ['PATH'] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"  # `!tsic ...` is this environment's
    NotebookClient(nb, timeout=timeout, kernel_name='python3', resources={'metadata': {'path': str(NBS)}}).execute()
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
