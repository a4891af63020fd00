"""The Colab runner (nbs/colab.ipynb) run here by papermill with its Colab-only steps (install, Drive, %tensorboard)
switched off: a tiny run trains, is evaluated and predicts; run again with more epochs, it resumes the same run."""
import json, re, subprocess
import nbformat, pytest
from conftest import ROOT, BIN

TINY = ['-p', 'install', 'False', '-p', 'use_drive', 'False', '-p', 'tensorboard', 'False', '-p', 'config', 'configs/demo.yaml',
        '-p', 'sample_limit', '40', '-p', 'image_size', '32', '-p', 'model_architecture_name', 'resnet18', '-p', 'pretrained', 'False',
        '-p', 'batch_size', '16', '-p', 'num_threads', '1']


def run_runner(tmp_path, name: str, *params: str) -> str:
    out = tmp_path / f'{name}.ipynb'
    proc = subprocess.run([str(BIN / 'papermill'), 'nbs/colab.ipynb', str(out), *TINY, '-p', 'runs', str(tmp_path / 'runs'), *params],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.dumps([c.get('outputs', []) for c in nbformat.read(out, as_version=4).cells])


@pytest.mark.slow
def test_the_colab_runner_trains_evaluates_predicts_and_resumes(tmp_path):
    first = run_runner(tmp_path, 'first', '-p', 'max_epochs', '1')
    run = tmp_path / 'runs' / 'colab'
    assert 'a new run' in first and 'image/png' in first
    assert len(json.loads((run / 'metrics.json').read_text())['epochs']) == 1
    assert (run / 'evaluation' / 'confusion_matrix.png').exists() and (run / 'predictions.csv').stat().st_size > 0
    second = run_runner(tmp_path, 'second', '-p', 'max_epochs', '2')  # the session came back: same run, one more epoch
    assert 'resuming from' in second and 'last.ckpt' in second
    assert [e['epoch'] for e in json.loads((run / 'metrics.json').read_text())['epochs']] == [0, 1]


def test_every_notebook_installs_tsic_with_the_runners_line():
    line = re.search(r'!pip install [^\n"]*', (ROOT / 'nbs' / 'colab.ipynb').read_text())[0]
    assert 'git+https://github.com/tsic/tsic.git' in line and '==' not in line  # the pins are settings.ini's
    for path in sorted((ROOT / 'nbs').glob('*.ipynb')):
        for cell in nbformat.read(path, as_version=4).cells:
            if 'On Colab: install tsic first' in cell.source:
                assert f'# {line}' in cell.source, path.name
