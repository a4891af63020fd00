"""README.md is the docs home (nbs/index.ipynb) as Markdown; nbdev_readme needs Quarto, so this keeps them in sync."""
import nbformat
from conftest import ROOT


def test_readme_matches_index_notebook():
    nb = nbformat.read(ROOT / 'nbs' / 'index.ipynb', as_version=4)
    expected = '\n\n'.join(c.source for c in nb.cells if c.cell_type == 'markdown') + '\n'
    assert (ROOT / 'README.md').read_text() == expected, "README.md is out of date: regenerate it from nbs/index.ipynb"


def test_readme_gives_the_two_commands():
    text = (ROOT / 'README.md').read_text()
    assert 'make train' in text and 'make test' in text
    assert 'papermill nbs/train.ipynb out.ipynb -p model_mode single' in text and 'nbdev_test' in text
