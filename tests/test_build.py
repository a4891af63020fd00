"""`tsic build` on real market files: resampling without invented bars, kill-and-resume, changed sources, bad rows."""
import json, os, signal, subprocess, sys, time
from pathlib import Path
import numpy as np, pandas as pd, pytest
from conftest import ROOT, BIN

MARKET = ROOT / 'examples' / 'market'
SPY = MARKET / 'spy_1m_2011-03.csv'
SPY_FORMAT = ['--sep', ';', '--names', 'timestamp', 'open', 'high', 'low', 'close', 'volume', '--time-format', '%Y%m%d %H%M%S']


def tsic_build(*args, **kwargs):
    return subprocess.run([str(BIN / 'tsic'), 'build', *map(str, args)], capture_output=True, text=True, **kwargs)


def spy_minutes():
    raw = pd.read_csv(SPY, sep=';', header=None, names=['t', 'open', 'high', 'low', 'close', 'volume'])
    return pd.to_datetime(raw.t, format='%Y%m%d %H%M%S')


def test_resampling_spy_respects_gaps(tmp_path):
    out = tsic_build(SPY, '--dataset', 'spy', '--data-dir', tmp_path, *SPY_FORMAT, '--timeframe', '15m', '--resample',
                     '--image-size', 48, '--workers', 2)
    assert out.returncode == 0, out.stderr
    manifest = json.loads((tmp_path / 'spy_15m_winsize40' / 'manifest.json').read_text())
    periods = spy_minutes().dt.floor('15min')
    assert manifest['bars']['n'] == periods.nunique()  # one 15-minute bar per period with trades, none invented
    feats = pd.read_csv(tmp_path / 'spy_15m_features.csv', parse_dates=['timestamp'])
    assert set(feats.timestamp) == set(periods)
    longest = spy_minutes().diff().max()
    assert longest > pd.Timedelta('12h') and feats.timestamp.diff().max() >= longest - pd.Timedelta('15min')  # gaps stay gaps
    labels = pd.read_csv(tmp_path / 'fix_labeled_data_spy_15m.csv')
    assert len(labels) == manifest['n_images'] == len(list(tmp_path.rglob('*.png')))
    assert sum(sum(c.values()) for c in manifest['counts'].values()) == manifest['n_images']
    assert manifest['source']['sha256'] and manifest['source']['rows'] == len(periods)


def running_in(group: int) -> list[int]:
    "Processes of the process `group` that still run (zombies, which write nothing, left out), from /proc."
    found = []
    for stat in Path('/proc').glob('[0-9]*/stat'):
        try: fields = stat.read_text().rsplit(')', 1)[1].split()
        except OSError: continue  # gone meanwhile
        if int(fields[2]) == group and fields[0] != 'Z': found.append(int(stat.parent.name))
    return found


def gone_by(group: int, seconds: float):
    "Wait until no process of the process `group` runs (the killed build's writers included)."
    deadline = time.time() + seconds
    while running_in(group):
        if time.time() > deadline: raise AssertionError(f"processes {running_in(group)} of group {group} still run {seconds} s after SIGKILL")
        time.sleep(0.05)


def test_killed_build_resumes_without_rewriting(tmp_path):
    args = (SPY, '--dataset', 'spy', '--data-dir', tmp_path, *SPY_FORMAT, '--timeframe', '5m', '--resample',
            '--image-size', 64, '--workers', 2, '--chunk', 64, '--compress-level', 6)
    folder = tmp_path / 'spy_5m_winsize40'
    proc = subprocess.Popen([str(BIN / 'tsic'), 'build', *map(str, args)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 120
    while len(list(folder.rglob('*.png'))) < 600 and time.time() < deadline and proc.poll() is None: time.sleep(0.05)
    assert proc.poll() is None, "the build finished before it could be interrupted"
    os.killpg(proc.pid, signal.SIGKILL); proc.wait()
    gone_by(proc.pid, 30)  # the writers too: one still finishing its rename would add a file after `before` is taken
    before = {p: p.stat().st_mtime_ns for p in folder.rglob('*.png')}
    assert not (folder / 'manifest.json').exists() and (folder / '.tsic-build').exists()
    out = tsic_build(*args)
    assert out.returncode == 0, out.stderr
    manifest = json.loads((folder / 'manifest.json').read_text())
    after = {p: p.stat().st_mtime_ns for p in folder.rglob('*.png')}
    assert len(after) == manifest['n_images'] and set(before) <= set(after)
    assert all(after[p] == t for p, t in before.items())  # finished images were kept, not rewritten
    assert manifest['written_this_run'] == len(after) - len(before)
    assert not list(folder.rglob('.*.tmp'))
    clean = tmp_path / 'clean'
    assert tsic_build(*args[:4], clean, *args[5:]).returncode == 0  # an uninterrupted build writes the same files
    reference = {p.relative_to(clean / 'spy_5m_winsize40'): p.read_bytes() for p in (clean / 'spy_5m_winsize40').rglob('*.png')}
    assert {p.relative_to(folder): p.read_bytes() for p in after} == reference


def test_changed_source_is_detected(tmp_path):
    src = tmp_path / 'spy.csv'; src.write_text(''.join(SPY.read_text().splitlines(keepends=True)[:3000]))
    args = (src, '--dataset', 'spy', '--data-dir', tmp_path, *SPY_FORMAT, '--timeframe', '5m', '--resample', '--image-size', 48)
    assert tsic_build(*args).returncode == 0
    with open(src, 'a') as f: f.write('20110305 100000;131.0;131.1;130.9;131.0;100\n')
    out = tsic_build(*args)
    assert out.returncode == 2 and 'source changed' in out.stderr and '--rebuild' in out.stderr
    assert tsic_build(*args, '--rebuild').returncode == 0
    manifest = json.loads((tmp_path / 'spy_5m_winsize40' / 'manifest.json').read_text())
    assert manifest['bars']['last'] == '2011-03-05 10:00:00'


def test_bad_rows_are_named_or_repaired(tmp_path):
    rng = np.random.default_rng(1)
    close = 100 + rng.standard_normal(500).cumsum()
    bars = pd.DataFrame({'Date': pd.date_range('2020-01-01', periods=500, freq='D').strftime('%Y-%m-%d'),
                         'Open': close, 'High': close + 1, 'Low': close - 1, 'Close': close, 'Volume': 100})
    bars.loc[10, 'High'] = bars.loc[10, 'Low'] - 1       # CSV line 12
    bars.loc[20, 'Close'] = np.nan                        # CSV line 22
    in_order = tmp_path / 'in_order.csv'; bars.to_csv(in_order, index=False)
    out = tsic_build(in_order, '--data-dir', tmp_path, '--image-size', 48)
    assert out.returncode == 2 and 'NaN or infinite values (line 22)' in out.stderr, out.stderr
    bars = pd.concat([bars, bars.iloc[[30]]])             # a duplicate of line 32's timestamp, out of order, at line 502
    src = tmp_path / 'daily.csv'; bars.to_csv(src, index=False)
    out = tsic_build(src, '--data-dir', tmp_path, '--image-size', 48)
    assert out.returncode == 2 and 'out of time order (earlier than the bar before) (line 502)' in out.stderr, out.stderr
    out = tsic_build(src, '--data-dir', tmp_path, '--image-size', 48, '--repair')
    assert out.returncode == 0, out.stderr
    manifest = json.loads((tmp_path / 'daily_1d_winsize40' / 'manifest.json').read_text())
    assert manifest['repairs'] == {'sorted': 1, 'duplicate_dropped': 1, 'non_finite_dropped': 1, 'inconsistent_dropped': 1}
    assert manifest['bars']['n'] == 498
    assert 'repaired 1 bars with a duplicate timestamp' in out.stderr


def test_too_few_bars(tmp_path):
    src = tmp_path / 'short.csv'
    pd.DataFrame({'timestamp': pd.date_range('2020-01-01', periods=30), 'open': 1., 'high': 1., 'low': 1., 'close': 1.,
                  'volume': 1.}).to_csv(src, index=False)
    out = tsic_build(src, '--data-dir', tmp_path, '--image-size', 48)
    assert out.returncode == 2 and 'labelled windows of 40 bars' in out.stderr


def test_header_file_with_other_names(tmp_path):
    out = tsic_build(MARKET / 'btcusd_30m_2014.csv', '--dataset', 'btc', '--timeframe', '30m', '--data-dir', tmp_path,
                     '--chart', 'gasf+gadf+mtf', '--image-size', 40, '--label-rule', 'quantile')
    assert out.returncode == 0, out.stderr
    manifest = json.loads((tmp_path / 'btc_30m_winsize40' / 'manifest.json').read_text())
    assert manifest['labels']['rule'] == 'quantile' and len(manifest['labels']['cut_points']) == 2
    train = manifest['counts']['train']
    assert max(train.values()) - min(train.values()) <= 2  # terciles of the training returns


def test_build_from_config_then_read_for_training(tmp_path):
    "`tsic build --config` builds every dataset of the config where the training run then reads it."
    import yaml
    from tsic.config import load_config
    from tsic.sources import collect_samples
    from tsic.bars import load_msft
    csv = tmp_path / 'm.csv'; load_msft().iloc[:500].to_csv(csv)
    cfg_path = tmp_path / 'cfg.yaml'
    cfg_path.write_text(yaml.safe_dump({'datasets': ['m'], 'data_dir': str(tmp_path), 'image_size': 48,
                                        'dataset_m_dir': str(tmp_path / 'm_1d_winsize40'),
                                        'class_names': ['down', 'flat', 'up'], 'num_classes': 3,
                                        'build': {'sources': {'m': str(csv)}, 'chart': 'line', 'volume': True}}))
    out = tsic_build('--config', cfg_path, '--workers', 1)
    assert out.returncode == 0, out.stderr
    samples = collect_samples(load_config(cfg_path))
    manifest = json.loads((tmp_path / 'm_1d_winsize40' / 'manifest.json').read_text())
    assert len(samples) == manifest['n_images'] and manifest['options']['chart'] == 'line'
    assert 'set dataset_m_dir' not in out.stdout  # the config already points at it


def test_triple_barrier_labels_from_the_command_line(tmp_path):
    "`--label-rule triple_barrier`: the labels CSV says which barrier each window touched and when; the manifest counts them."
    out = tsic_build(MARKET / 'btcusd_30m_2014.csv', '--dataset', 'btc', '--timeframe', '30m', '--data-dir', tmp_path, '--chart', 'line',
                     '--image-size', 40, '--label-rule', 'triple_barrier', '--barrier', 0.8, '--vertical', 'sign', '--horizon', 6)
    assert out.returncode == 0, out.stderr
    manifest = json.loads((tmp_path / 'btc_30m_winsize40' / 'manifest.json').read_text())
    labels = pd.read_csv(tmp_path / 'fix_labeled_data_btc_30m.csv')
    assert manifest['labels']['rule'] == 'triple_barrier' and manifest['labels']['barrier'] == 0.8
    assert manifest['labels']['touched'] == labels.barrier.value_counts().to_dict()
    assert labels.bars_held.between(1, 6).all() and (labels.bars_held[labels.barrier == 'vertical'] == 6).all()
    touched = labels[labels.barrier != 'vertical']
    assert (touched.label == np.where(touched.barrier == 'upper', 2, 0)).all()
    vertical = labels[labels.barrier == 'vertical']  # --vertical sign: the sign of the return at the vertical barrier
    assert (vertical.label == 1 + np.sign(vertical.exit_return)).all() and len(vertical) and set(vertical.label) >= {0, 2}
    assert np.allclose(vertical.exit_return, vertical.forward_return)
    bad = tsic_build(MARKET / 'btcusd_30m_2014.csv', '--dataset', 'btc', '--data-dir', tmp_path / 'b', '--label-rule', 'triple_barrier', '--barrier', '-1')
    assert bad.returncode == 2 and 'barrier' in bad.stderr, bad.stderr


def test_several_assets_split_on_one_calendar(tmp_path):
    """`tsic build a.csv b.csv` (or a folder): one dataset per asset, split on one calendar; no label of an earlier
    split, of either asset, is known after a window of a later split starts; a config trains on them together."""
    import yaml
    from tsic.config import load_config
    from tsic.sources import collect_samples, fold_samples
    folder = tmp_path / 'bars'; folder.mkdir()
    (folder / 'spy.csv').write_bytes(SPY.read_bytes())
    raw = pd.read_csv(SPY, sep=';', header=None)
    rng = np.random.default_rng(0)  # a second asset: SPY's minutes (a tenth missing) with its own noise on top
    other = raw.iloc[np.sort(rng.choice(len(raw), int(len(raw) * 0.9), replace=False))].copy()
    noise = np.exp(np.cumsum(rng.normal(0, 3e-4, len(other))))
    other[[1, 2, 3, 4]] = other[[1, 2, 3, 4]].mul(noise, axis=0).round(4)
    other[2], other[3] = other[[1, 2, 3, 4]].max(axis=1), other[[1, 2, 3, 4]].min(axis=1)
    other.to_csv(folder / 'twin.csv', sep=';', header=False, index=False)
    out = tsic_build(folder, '--data-dir', tmp_path / 'data', *SPY_FORMAT, '--timeframe', '15m', '--resample',
                     '--image-size', 40, '--chart', 'line', '--workers', 1)
    assert out.returncode == 0, out.stderr
    assert '2 assets split on one calendar' in out.stdout and 'datasets: [spy, twin]' in out.stdout, out.stdout
    data = tmp_path / 'data'
    manifests = {a: json.loads((data / f'{a}_15m_winsize40' / 'manifest.json').read_text()) for a in ('spy', 'twin')}
    assert manifests['spy']['calendar'] == manifests['twin']['calendar'] and manifests['spy']['calendar']['assets'] == ['spy', 'twin']
    for a, m in manifests.items():  # per-asset counts, printed and in each manifest
        assert f"{data / f'{a}_15m_winsize40'}: {m['n_images']} images" in out.stdout and m['counts']['test']
    first, known = {}, {}
    for a in manifests:
        labels = pd.read_csv(data / f'fix_labeled_data_{a}_15m.csv', parse_dates=['timestamp', 'known_at'])
        clock = pd.DatetimeIndex(pd.read_csv(data / f'{a}_15m_features.csv', parse_dates=['timestamp']).timestamp)
        starts = clock[clock.get_indexer(labels.timestamp) - 39]
        for split in ('train', 'val', 'test'):
            first[a, split], known[a, split] = starts[labels.split == split].min(), labels.known_at[labels.split == split].max()
    for earlier, later in (('train', 'val'), ('val', 'test')):
        for a in manifests:
            for b in manifests: assert known[a, earlier] < first[b, later], (a, earlier, b, later)
    cfg_path = tmp_path / 'cfg.yaml'
    cfg_path.write_text(yaml.safe_dump({'datasets': ['spy', 'twin'], 'data_dir': str(data), 'image_size': 40, 'num_classes': 3,
                                        'class_names': ['down', 'flat', 'up'],
                                        **{f'dataset_{a}_dir': str(data / f'{a}_15m_winsize40') for a in manifests}}))
    samples = collect_samples(load_config(cfg_path))
    assert samples.groupby('dataset').size().to_dict() == {a: m['n_images'] for a, m in manifests.items()}
    for part in fold_samples(samples, 2, purge=45):
        spans = part.groupby('split').agg(first=('starts_at', 'min'), known=('known_at', 'max'))
        assert spans.known['train'] < spans['first']['val'] and spans.known['val'] < spans['first']['test']
    again = tsic_build(folder / 'spy.csv', '--data-dir', data, *SPY_FORMAT, '--timeframe', '15m', '--resample',
                       '--image-size', 40, '--chart', 'line', '--workers', 1)
    assert again.returncode != 0 and 'split calendar changed' in again.stderr, again.stderr


def test_assets_without_a_common_test_period_are_refused(tmp_path):
    "SPY in January and in March as two assets: January has no window in the common test block; nothing is written."
    out = tsic_build(MARKET / 'spy_1m_2011-01.csv', SPY, '--data-dir', tmp_path, *SPY_FORMAT, '--timeframe', '15m', '--resample',
                     '--image-size', 40, '--workers', 1)
    assert out.returncode != 0
    assert 'spy_1m_2011_01' in out.stderr and 'test split has none on the calendar shared with spy_1m_2011_03' in out.stderr, out.stderr
    assert not list(tmp_path.iterdir())
    twice = tsic_build(SPY, SPY, '--data-dir', tmp_path)
    assert twice.returncode != 0 and 'rename the files' in twice.stderr, twice.stderr
    missing = tsic_build(SPY, tmp_path / 'nowhere.csv', '--data-dir', tmp_path, *SPY_FORMAT)
    assert missing.returncode != 0 and f"OHLCV file not found: {tmp_path / 'nowhere.csv'}" in missing.stderr, missing.stderr
    assert not list(tmp_path.iterdir())
