"""The demo dataset's splits never share a bar: windows and label horizons of different splits are disjoint."""
import json
import numpy as np, pandas as pd, pytest
from tsic.bars import load_msft
from tsic.labels import ChartDatasetSpec
from tsic.build import build_chart_dataset


@pytest.fixture(scope='module')
def demo(tmp_path_factory):
    spec = ChartDatasetSpec(image_size=48)
    folder = build_chart_dataset(load_msft(), tmp_path_factory.mktemp('demo'), spec)
    return folder, spec


def test_splits_do_not_overlap(demo):
    folder, spec = demo
    labels = pd.read_csv(folder.parent / 'fix_labeled_data_msft_1d.csv', parse_dates=['timestamp'])
    bar_index = pd.Series(np.arange(len(load_msft())), index=load_msft().index)
    labels['end'] = bar_index[labels.timestamp].to_numpy()
    spans = {s: (g.end.min() - spec.window + 1, g.end.max() + spec.horizon) for s, g in labels.groupby('split')}
    assert spans['train'][1] < spans['val'][0] and spans['val'][1] < spans['test'][0], spans
    assert labels.groupby('split').timestamp.apply(lambda t: t.is_monotonic_increasing).all()


def test_files_match_labels_csv(demo):
    folder, _ = demo
    labels = pd.read_csv(folder.parent / 'fix_labeled_data_msft_1d.csv', parse_dates=['timestamp'])
    files = sorted(folder.rglob('*.png'))
    assert len(files) == len(labels) == json.loads((folder / 'manifest.json').read_text())['n_images']
    on_disk = {(f.parent.parent.name, f.parent.name, f.name) for f in files}
    expected = {(r.split, r['class_name'], f"msft_1d_{r.timestamp:%Y%m%d_%H%M}_label_{r.label}.png") for _, r in labels.iterrows()}
    assert on_disk == expected


def test_labels_use_future_bars_only():
    from tsic.labels import forward_zscores
    close = load_msft().close.to_numpy()
    z = forward_zscores(close, 40, 5)
    for t in (500, 3000, 7000):
        changed = close.copy(); changed[t + 6:] *= 2  # everything after the label horizon of the window ending at t
        assert np.array_equal(forward_zscores(changed, 40, 5)[:t + 1], z[:t + 1], equal_nan=True)
        changed = close.copy(); changed[t + 5] *= 2  # the horizon's last bar does change it
        assert forward_zscores(changed, 40, 5)[t] != z[t]
