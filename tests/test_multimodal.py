"""Multi-modal training on user data in the original layout, across several datasets."""
import shutil
from pathlib import Path
import numpy as np, pandas as pd, pytest
from tsic.train import train
from tsic.sources import collect_samples, load_data
from tsic.windows import WindowError
from tsic.predict import Predictor
from conftest import config_for

FEATURES = ['log_return', 'hl_range', 'oc_return', 'volume_change', 'ma5_gap', 'ma20_gap', 'volatility20']


def two_datasets(small_dataset: Path, tmp_path: Path):
    "The fixture dataset twice (as `msft` and `copy`), with one features CSV whose `copy` rows are shifted by +100."
    a = Path(shutil.copytree(small_dataset, tmp_path / 'msft_1d_winsize40'))
    b = Path(shutil.copytree(small_dataset, tmp_path / 'copy_1d_winsize40'))
    feats = pd.read_csv(small_dataset.parent / 'msft_1d_features.csv')
    other = feats.assign(dataset_id='copy', **{c: feats[c] + 100 for c in FEATURES})
    csv = tmp_path / 'features.csv'; pd.concat([feats, other]).to_csv(csv, index=False)
    return config_for(a, datasets=['msft', 'copy'], dataset_copy_dir=str(b), model_mode='multi', tensorboard=False,
                      timeseries={'data_path': str(csv), 'feature_columns': FEATURES},
                      transformer={'dim': 16, 'layers': 1, 'heads': 2, 'dropout': 0.1, 'ff_dim': 32}), csv


def test_windows_never_cross_datasets(small_dataset, tmp_path):
    cfg, _ = two_datasets(small_dataset, tmp_path)
    data = load_data(cfg)
    raw, copy = data.windows[data.samples.window_row], (data.samples.dataset == 'copy').to_numpy()
    # every value of a `copy` window is from the +100 rows, every `msft` value from the original rows
    assert (raw[copy][..., 1] > 50).all() and (raw[~copy][..., 1] < 50).all()


def test_multi_dataset_training(small_dataset, tmp_path):
    "Each dataset's windows are scaled by its own training statistics, in training and in prediction from the checkpoint."
    cfg, csv = two_datasets(small_dataset, tmp_path)
    data = load_data(cfg)
    scaled = pd.DataFrame(data.scaled_windows()[..., 1].mean(1), index=pd.MultiIndex.from_frame(data.samples[['dataset', 'timestamp']]))
    assert np.allclose(scaled.loc['copy'].sort_index(), scaled.loc['msft'].sort_index(), atol=1e-4)  # `copy` is `msft` + 100
    result = train(cfg, run_dir=tmp_path / 'run')
    assert set(result.samples.dataset) == {'msft', 'copy'}
    assert result.test['support'] == len(result.samples[result.samples.split == 'test'])
    p = Predictor.from_checkpoint(result.best_checkpoint)
    assert p.scaler.groups == ['copy', 'msft']
    test = {name: p.predict_images(tmp_path / f'{name}_1d_winsize40' / 'test', csv, dataset=name) for name in ('msft', 'copy')}
    probs = [t.filter(like='prob_').to_numpy() for t in test.values()]
    assert len(probs[0]) > 5 and np.allclose(*probs, atol=1e-5)  # the same charts, windows 100 apart: the same probabilities


@pytest.mark.slow  # make test stays under 10 minutes; .ci/run runs it after
def test_missing_timestamps_stop_or_are_counted(small_dataset, tmp_path, caplog):
    cfg, csv = two_datasets(small_dataset, tmp_path)
    feats = pd.read_csv(csv)
    feats[~(feats.bar.between(200, 239) & (feats.bar % 2 == 0))].to_csv(csv, index=False)  # every other bar of 40 gone
    with pytest.raises(WindowError, match='with no row at their timestamp.*with rows missing inside their window'):
        train(cfg, run_dir=tmp_path / 'a')
    cfg.timeseries.skip_invalid = True
    total = len(collect_samples(cfg))
    result = train(cfg, run_dir=tmp_path / 'b')
    assert 'Skipped' in caplog.text and 'with no row at their timestamp' in caplog.text and 'with rows missing inside' in caplog.text
    assert 0 < len(result.samples) < total
