"""The training notebook end to end through papermill, as a user runs it."""
import json, subprocess
from pathlib import Path
import nbformat
from conftest import ROOT, BIN


def run_papermill(out: Path, *params: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / 'papermill'), 'nbs/train.ipynb', str(out), *params],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)


def test_readme_example_runs_end_to_end(tmp_path):
    run = tmp_path / 'run'
    proc = run_papermill(tmp_path / 'out.ipynb', '-p', 'max_epochs', '2', '-p', 'image_size', '64',
                         '-p', 'model_architecture_name', 'resnet18', '-p', 'pretrained', 'False',
                         '-p', 'sample_limit', '300', '-p', 'run_dir', str(run))
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((run / 'metrics.json').read_text())
    assert [e['epoch'] for e in report['epochs']] == [0, 1]
    for e in report['epochs']:
        assert {'train_loss', 'valid_loss', 'f1_score', 'accuracy'} <= set(e)
    assert report['test']['support'] == 300 and set(report['baselines']) == {'majority', 'persistence'}
    assert report['images_per_split'] == {'train': 300, 'val': 300, 'test': 300}
    resolved = (run / 'config.yaml').read_text()
    assert 'model_architecture_name: resnet18' in resolved and 'image_size: 64' in resolved
    ckpts = sorted(p.name for p in (run / 'checkpoints' / 'single' / 'resnet18').iterdir())
    assert 'last.ckpt' in ckpts and any(p.startswith('epoch=0000') and '-val_f1=' in p for p in ckpts)
    assert (run / 'confusion_matrix.png').stat().st_size > 1000 and (run / 'training_curves.png').exists()
    nb = nbformat.read(tmp_path / 'out.ipynb', as_version=4)
    text = json.dumps([c.get('outputs', []) for c in nb.cells])
    assert 'Test macro F1' in text and 'image/png' in text
    assert 'beats both baselines' in text or 'does **not** beat' in text
    assert 'tensorboard --logdir' in text and list((run / 'logs' / 'single' / 'resnet18').glob('events.out.tfevents.*'))


def test_misspelt_parameter_is_an_error(tmp_path):
    proc = run_papermill(tmp_path / 'out.ipynb', '-p', 'max_epoch', '1', '-p', 'run_dir', str(tmp_path / 'run'))
    assert proc.returncode != 0
    assert "Did you mean 'max_epochs'" in proc.stdout + proc.stderr


def test_multi_mode_runs_through_papermill(tmp_path):
    run = tmp_path / 'run'
    proc = run_papermill(tmp_path / 'out.ipynb', '-p', 'config', 'configs/demo.yaml', '-p', 'model_mode', 'multi',
                         '-p', 'max_epochs', '2', '-p', 'image_size', '32', '-p', 'model_architecture_name', 'resnet18',
                         '-p', 'pretrained', 'False', '-p', 'sample_limit', '120', '-p', 'run_dir', str(run),
                         '-p', 'ablations', 'True',
                         '-y', 'transformer: {dim: 16, layers: 1, heads: 2, dropout: 0.1, ff_dim: 32}\nmodel: {aux_loss_weight: 0.2}')
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((run / 'metrics.json').read_text())
    assert [e['epoch'] for e in report['epochs']] == [0, 1] and report['test']['support'] == 120
    from tsic.learner import load_checkpoint
    ckpt = load_checkpoint(run / 'checkpoints' / 'multi' / 'resnet18' / 'last.ckpt')
    assert ckpt['model_mode'] == 'multi' and set(ckpt['window_scaler']) == {'mean', 'std'}
    assert ckpt['config']['model']['aux_loss_weight'] == 0.2
    for variant in ('image-only', 'series-only'):  # the ablations, scored on the same test split
        assert json.loads((run / variant / 'metrics.json').read_text())['test']['support'] == 120
    nb = nbformat.read(tmp_path / 'out.ipynb', as_version=4)
    text = json.dumps([c.get('outputs', []) for c in nb.cells])
    assert 'fused (image + series)' in text and 'series only' in text and 'image only' in text


def test_series_source_through_papermill(tmp_path):
    "data_source: series from a real OHLCV file given in the -y YAML: no PNG is written, the report is complete."
    market = ROOT.parent / 'shared' / 'data' / 'market' / 'btcusd_30m_2014.csv'
    if not market.exists():
        import pytest; pytest.skip(f"{market} is absent (the shared market data)")
    run, data = tmp_path / 'run', tmp_path / 'data'
    proc = run_papermill(tmp_path / 'out.ipynb', '-p', 'config', 'configs/demo.yaml', '-p', 'data_source', 'series',
                         '-p', 'data_dir', str(data), '-p', 'max_epochs', '1',
                         '-p', 'image_size', '48', '-p', 'model_architecture_name', 'resnet18', '-p', 'pretrained', 'False',
                         '-p', 'check_data', 'True', '-p', 'sample_limit', '60', '-p', 'run_dir', str(run),
                         '-y', f'datasets: [btc]\nbuild: {{sources: {{btc: {market}}}, timeframe: 30m, chart: area, label_rule: quantile}}')
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((run / 'metrics.json').read_text())
    assert report['test']['support'] == 60
    assert not list(data.rglob('*.png')) and list((data / '.tsic-cache').glob('series-btc-48px-*.npy'))
