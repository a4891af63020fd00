"""The tutorials (nbs/tutorial_*.ipynb): stored executed for the docs site, listed in the sidebar, and still running.

They carry `skip_exec: true`, so `nbdev_test` and `make docs` show their stored outputs instead of running them; the
slow test here runs each one top to bottom in a fresh kernel (`tools/tutorials.py`, the same code as `make tutorials`)."""
import sys
import nbformat, pytest, yaml
from conftest import ROOT

sys.path.insert(0, str(ROOT / 'tools'))
import tutorials  # tools/tutorials.py

TUTORIALS = tutorials.tutorials()
WANTED = ['quick_start', 'own_data', 'multimodal', 'ucr', 'walk_forward', 'features', 'tuning', 'deployment']


def test_the_eight_tutorials_come_first_in_the_sidebar():
    assert sorted(p.stem.removeprefix('tutorial_') for p in TUTORIALS) == sorted(WANTED)
    sections = yaml.safe_load((ROOT / 'nbs' / 'sidebar.yml').read_text())['website']['sidebar']['contents']
    first = next(s for s in sections if isinstance(s, dict))
    assert first['section'] == 'Tutorials' and first['contents'] == [f'tutorial_{n}.ipynb' for n in WANTED]


@pytest.mark.parametrize('path', TUTORIALS, ids=lambda p: p.stem)
def test_a_tutorial_is_stored_executed_without_errors(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[0].cell_type == 'raw' and 'skip_exec: true' in nb.cells[0].source  # shown as stored, never rerun by nbdev
    assert nb.metadata.get('tsic', {}).get('code_sha') == tutorials.code_sha(nb), \
        f"{path.name}: its code changed after its outputs were made (or it was never run): run `make tutorials ONLY={path.stem[9:]}`"
    code = [c for c in nb.cells if c.cell_type == 'code']
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), f"{path.name}: not one run from top to bottom"
    errors = [o for c in code for o in c.outputs if o.output_type == 'error' or o.get('name') == 'stderr' and 'Traceback' in o.text]
    assert not errors, f"{path.name}: {errors[0]}"
    assert any('image/png' in o.get('data', {}) or 'text/html' in o.get('data', {}) for c in code for o in c.outputs), path.name


def figures(nb) -> list[int]:
    "Positions of the code cells that show a figure."
    code = [c for c in nb.cells if c.cell_type == 'code']
    return [i for i, c in enumerate(code) if any('image/png' in o.get('data', {}) for o in c.outputs)]


@pytest.mark.slow
@pytest.mark.parametrize('path', TUTORIALS, ids=lambda p: p.stem)
def test_a_tutorial_runs_top_to_bottom(path):
    "Runs (writing under runs/tutorials/, not into the notebook); nbclient raises at the first error, with its cell and traceback."
    nb = tutorials.execute(path)
    assert figures(nb) == figures(nbformat.read(path, as_version=4))  # the same cells still draw their figures
