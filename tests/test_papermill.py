"""The training notebook end to end through papermill, as a user runs it."""
import json, subprocess
from pathlib import Path
import nbformat, pytest
from conftest import ROOT, BIN


def run_papermill(out: Path, *params: str, notebook: str = 'nbs/train.ipynb') -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / 'papermill'), notebook, str(out), *params],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)


def test_readme_example_runs_end_to_end(tmp_path):
    run = tmp_path / 'run'
    proc = run_papermill(tmp_path / 'out.ipynb', '-p', 'max_epochs', '2', '-p', 'image_size', '32',
                         '-p', 'model_architecture_name', 'resnet18', '-p', 'pretrained', 'False',
                         '-p', 'sample_limit', '150', '-p', 'run_dir', str(run))
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((run / 'metrics.json').read_text())
    assert [e['epoch'] for e in report['epochs']] == [0, 1]
    for e in report['epochs']:
        assert {'train_loss', 'valid_loss', 'f1_score', 'accuracy'} <= set(e)
    assert report['test']['support'] == 150 and set(report['baselines']) == {'majority', 'persistence'}
    assert report['images_per_split'] == {'train': 150, 'val': 150, 'test': 150}
    resolved = (run / 'config.yaml').read_text()
    assert 'model_architecture_name: resnet18' in resolved and 'image_size: 32' in resolved
    ckpts = sorted(p.name for p in (run / 'checkpoints' / 'single' / 'resnet18').iterdir())
    assert 'last.ckpt' in ckpts and any(p.startswith('epoch=0000') and '-val_f1=' in p for p in ckpts)
    assert (run / 'confusion_matrix.png').stat().st_size > 1000 and (run / 'training_curves.png').exists()
    nb = nbformat.read(tmp_path / 'out.ipynb', as_version=4)
    text = json.dumps([c.get('outputs', []) for c in nb.cells])
    assert 'Test macro F1' in text and 'image/png' in text
    assert ('beats the causal baselines' if report['beats_baselines'] else 'does **not** beat the') in text  # what metrics.json says
    assert (run / 'training_batch.png').stat().st_size > 1000 and 'look-ahead reference: previous_label' in text
    assert 'tensorboard --logdir' in text and list((run / 'logs' / 'single' / 'resnet18').glob('events.out.tfevents.*'))


def test_misspelt_parameter_is_an_error(tmp_path):
    proc = run_papermill(tmp_path / 'out.ipynb', '-p', 'max_epoch', '1', '-p', 'run_dir', str(tmp_path / 'run'))
    assert proc.returncode != 0
    assert "Did you mean 'max_epochs'" in proc.stdout + proc.stderr


@pytest.mark.slow
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
    from tsic.checkpoint import load_checkpoint
    ckpt = load_checkpoint(run / 'checkpoints' / 'multi' / 'resnet18' / 'last.ckpt')
    assert ckpt.model_mode == 'multi' and set(ckpt.window_scaler) == {'mean', 'std'}
    assert ckpt.config['model']['aux_loss_weight'] == 0.2
    for variant in ('image-only', 'series-only'):  # the ablations, scored on the same test split
        assert json.loads((run / variant / 'metrics.json').read_text())['test']['support'] == 120
    nb = nbformat.read(tmp_path / 'out.ipynb', as_version=4)
    text = json.dumps([c.get('outputs', []) for c in nb.cells])
    assert 'fused (image + series)' in text and 'series only' in text and 'image only' in text


@pytest.mark.slow
def test_series_source_through_papermill(tmp_path):
    "data_source: series from a real OHLCV file given in the -y YAML: no PNG is written, the report is complete."
    market = ROOT / 'examples' / 'market' / 'btcusd_30m_2014.csv'
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


@pytest.mark.slow  # make test stays under 10 minutes; .ci/run runs it after (test_readme_commands runs the README's evaluate report)
def test_evaluate_report_through_papermill(checkpoint, small_dataset, tmp_path):
    "The evaluation report of a checkpoint: files, scores equal to scikit-learn's, offsets stored and used by tsic predict."
    import shutil
    import numpy as np, pandas as pd
    from sklearn.metrics import f1_score, precision_recall_fscore_support
    classes = ['down', 'flat', 'up']  # macro averages over all classes, as training reports them
    ckpt = Path(shutil.copy(checkpoint, tmp_path / 'model.ckpt'))  # the evaluation writes its offsets into it
    out = tmp_path / 'evaluation'
    proc = run_papermill(tmp_path / 'report.ipynb', '-p', 'checkpoint', str(ckpt), '-p', 'out_dir', str(out),
                         '-p', 'n_gradcam', '4', '-p', 'store_thresholds', 'True', notebook='nbs/evaluate.ipynb')
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((out / 'metrics.json').read_text())
    preds = pd.read_csv(out / 'predictions.csv')
    assert len(preds) == len(list((small_dataset / 'test').rglob('*.png'))) == metrics['scores']['support']
    assert np.isclose(f1_score(preds.true, preds.predicted, labels=classes, average='macro', zero_division=0), metrics['scores']['macro_f1'])
    per_class = pd.read_csv(out / 'per_class.csv', index_col=0)
    p, r, f, n = precision_recall_fscore_support(preds.true, preds.predicted, labels=classes, zero_division=0)
    assert np.allclose(per_class.loc[['down', 'flat', 'up'], ['precision', 'recall', 'f1']].to_numpy(), np.c_[p, r, f])
    assert np.isclose(f1_score(preds.true, preds.predicted_with_offsets, labels=classes, average='macro', zero_division=0),
                      metrics['decision_offsets']['test_scores']['macro_f1'])
    for name in ('confusion_matrix.png', 'top_losses.png', 'gradcam.png'): assert (out / name).stat().st_size > 1000
    nb = nbformat.read(tmp_path / 'report.ipynb', as_version=4)
    text = json.dumps([c.get('outputs', []) for c in nb.cells])
    assert 'with the offsets (saved into the checkpoint)' in text and text.count('image/png') >= 3
    # tsic predict --thresholds now uses the stored offsets
    folder = small_dataset / 'test'
    got = subprocess.run([str(BIN / 'tsic'), 'predict', str(ckpt), str(folder), '--thresholds', '-o', str(tmp_path / 'p.csv')],
                         capture_output=True, text=True)
    assert got.returncode == 0, got.stderr
    tuned = pd.read_csv(tmp_path / 'p.csv').set_index('file').loc[preds.file]
    assert (tuned.predicted.to_numpy() == preds.predicted_with_offsets.to_numpy()).all()


def test_evaluate_without_a_checkpoint_says_so(tmp_path):
    proc = run_papermill(tmp_path / 'report.ipynb', notebook='nbs/evaluate.ipynb')
    assert proc.returncode != 0 and 'give the checkpoint to evaluate' in proc.stdout + proc.stderr


@pytest.mark.slow  # make test stays under 10 minutes; .ci/run runs it after
def test_walk_forward_report_through_papermill(tmp_path):
    "Two folds on the demo, tiny model: fold table, plot, pooled scores, and each fold's test block after its training data."
    import pandas as pd
    run = tmp_path / 'run'
    proc = run_papermill(tmp_path / 'wf.ipynb', '-p', 'config', 'configs/demo.yaml', '-p', 'folds', '2', '-p', 'max_epochs', '1',
                         '-p', 'image_size', '32', '-p', 'model_architecture_name', 'resnet18', '-p', 'pretrained', 'False',
                         '-p', 'sample_limit', '40', '-p', 'run_dir', str(run), '-p', 'mode', 'sliding',
                         notebook='nbs/walk_forward.ipynb')
    assert proc.returncode == 0, proc.stderr[-3000:]
    folds = pd.read_csv(run / 'walk_forward.csv', parse_dates=['test_from', 'test_to'])
    assert list(folds.fold) == [0, 1] and (folds.n_test == 40).all()
    assert folds.test_from[1] > folds.test_to[0]
    report = json.loads((run / 'walk_forward.json').read_text())
    assert report['mode'] == 'sliding' and report['purge'] == 45 and sum(map(sum, report['pooled_confusion']['model'])) == 80
    for k in (0, 1):
        metrics = json.loads((run / f'fold{k}' / 'metrics.json').read_text())
        assert metrics['images_per_split']['test'] == 40
    text = json.dumps([c.get('outputs', []) for c in nbformat.read(tmp_path / 'wf.ipynb', as_version=4).cells])
    assert 'Pooled test macro F1' in text and 'image/png' in text and 'model_offsets' in text and 'model_stacked' in text  # the summary table lists them
    assert {'offset_down', 'offset_flat', 'offset_up'} <= set(folds.columns)
    trades = pd.read_csv(run / 'backtest.csv')  # the backtest beside the scores, shown in the report
    assert set(trades.fold) == {'0', '1', 'pooled'} and set(trades.predictor) == {'model', 'model_offsets', 'model_stacked', 'persistence', 'always_long', 'flat'}
    assert 'sharpe_low' in text and 'equity.png' in text and (run / 'equity.png').stat().st_size > 1000


@pytest.mark.slow  # make test stays under 10 minutes; .ci/run runs it after
def test_feature_analysis_through_papermill(tmp_path):
    "The demo: report files, hold-out scores, and the selection written into a copy of the config with every comment kept."
    import shutil, pandas as pd
    from tsic.config import load_config
    cfg_path = Path(shutil.copy(ROOT / 'configs' / 'demo.yaml', tmp_path / 'demo.yaml'))
    comments = [l.strip() for l in cfg_path.read_text().splitlines() if '#' in l]
    out = tmp_path / 'report'
    proc = run_papermill(tmp_path / 'fa.ipynb', '-p', 'config', str(cfg_path), '-p', 'n_trials', '3', '-p', 'folds', '2',
                         '-p', 'top_k', '6', '-p', 'out_dir', str(out), '-p', 'features_csv', str(tmp_path / 'sel.csv'),
                         notebook='nbs/feature_analysis.ipynb')
    assert proc.returncode == 0, proc.stderr[-3000:]
    selected = (out / 'selected_features.txt').read_text().split()
    assert len(selected) == 6 and len(pd.read_csv(out / 'folds.csv')) == 2 and len(pd.read_csv(out / 'trials.csv')) == 3
    for f in ('importance.png', 'cumulative_importance.png', 'optuna_history.png', 'optuna.db'): assert (out / f).exists()
    holdout = json.loads((out / 'holdout.json').read_text())
    assert set(holdout['selected']) >= {'lgbm', 'majority', 'persistence'}
    cfg = load_config(cfg_path)
    assert cfg.timeseries.feature_columns == selected and cfg.timeseries.data_path == str(tmp_path / 'sel.csv')
    assert [l.strip() for l in cfg_path.read_text().splitlines() if '#' in l] == comments  # every comment line kept
    assert list(tmp_path.glob('demo.yaml.*.bak'))
    csv = pd.read_csv(tmp_path / 'sel.csv')
    assert list(csv.columns) == ['timestamp', *selected, 'dataset_id', 'bar'] and (csv.dataset_id == 'msft').all()
    assert (csv.bar == range(len(csv))).all()  # bar numbers, so holes inside a window show (windows.align_windows)
    text = json.dumps([c.get('outputs', []) for c in nbformat.read(tmp_path / 'fa.ipynb', as_version=4).cells])
    assert 'feature_columns' in text and 'image/png' in text and 'tuned LightGBM, selected features' in text
    # the study resumes: two more trials asked for, two more run
    proc = run_papermill(tmp_path / 'fa2.ipynb', '-p', 'config', str(cfg_path), '-p', 'n_trials', '5', '-p', 'folds', '2',
                         '-p', 'top_k', '6', '-p', 'out_dir', str(out), '-p', 'update_config', 'False',
                         '-p', 'features_csv', str(tmp_path / 'sel.csv'), notebook='nbs/feature_analysis.ipynb')
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(pd.read_csv(out / 'trials.csv')) == 5 and load_config(cfg_path).timeseries.feature_columns == selected


@pytest.mark.slow
def test_feature_analysis_on_spy_minutes_resampled(tmp_path):
    "SPY 1-minute bars aggregated to 15 minutes, read with the file's own format; the config is left alone."
    market = ROOT / 'examples' / 'market' / 'spy_1m_2011-03.csv'
    cfg_text = (ROOT / 'configs' / 'demo.yaml').read_text()
    out = tmp_path / 'report'
    proc = run_papermill(tmp_path / 'fa.ipynb', '-p', 'config', 'configs/demo.yaml', '-p', 'data_path', str(market),
                         '-p', 'dataset', 'spy', '-p', 'n_trials', '2', '-p', 'folds', '3', '-p', 'out_dir', str(out),
                         '-p', 'update_config', 'False', '-p', 'features_csv', str(tmp_path / 'spy.csv'),
                         '-y', "build: {csv: {sep: ';', names: [timestamp, open, high, low, close, volume], time_format: '%Y%m%d %H%M%S'}, timeframe: 15m, resample: true}",
                         notebook='nbs/feature_analysis.ipynb')
    assert proc.returncode == 0, proc.stderr[-3000:]
    holdout = json.loads((out / 'holdout.json').read_text())
    assert holdout['selected']['lgbm']['support'] == holdout['periods']['test'][2] > 100
    assert (ROOT / 'configs' / 'demo.yaml').read_text() == cfg_text
    import pandas as pd
    assert (pd.read_csv(tmp_path / 'spy.csv').dataset_id == 'spy').all()
