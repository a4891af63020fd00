"""The build's answers to the inputs that went wrong before (issue 15): gaps, a killed main process, a held lock,
fractions that do not sum to 1, a timeframe that is not the bars' own. Each runs the installed `tsic` command."""
import json, os, signal, subprocess, time
from pathlib import Path
import numpy as np, pandas as pd, pytest
from conftest import BIN
from test_build import SPY, SPY_FORMAT, tsic_build


def spy_head(tmp_path, lines=600) -> Path:
    src = tmp_path / 'spy_head.csv'
    src.write_text(''.join(SPY.read_text().splitlines(keepends=True)[:lines]))
    return src


def test_gap_of_months_is_never_crossed_and_is_counted(tmp_path):
    from tsic.bars import load_msft
    bars = load_msft().iloc[:600]
    bars.index = bars.index[:300].append(bars.index[300:] + pd.Timedelta(days=120))  # March..July: rows shifted
    src = tmp_path / 'shifted.csv'; bars.to_csv(src)
    out = tsic_build(src, '--data-dir', tmp_path, '--image-size', 48, '--workers', 1)
    assert out.returncode == 0, out.stderr
    manifest = json.loads((tmp_path / 'shifted_1d_winsize40' / 'manifest.json').read_text())
    gaps = manifest['labels']['gaps']
    assert (gaps['gaps'], gaps['left_out_crossing'], gaps['max_gap']) == (1, 40 + 20 + 5 - 1, '14 days 00:00:00')
    assert '64 windows left out: they or their label horizon cross one of 1 gaps' in out.stderr
    labels = pd.read_csv(tmp_path / 'fix_labeled_data_shifted_1d.csv', parse_dates=['timestamp'])
    end = bars.index.get_indexer(labels.timestamp)
    assert ((end - 59 >= 300) | (end + 5 < 300)).all()  # warm-up, window and horizon all on one side of the gap


def test_gap_limit_is_configurable(tmp_path):
    from tsic.bars import load_msft
    bars = load_msft().iloc[:1000]  # 1986-1990: daily bars, the longest pause 4 days
    src = tmp_path / 'msft.csv'; bars.to_csv(src)
    out = tsic_build(src, '--data-dir', tmp_path, '--image-size', 48, '--workers', 1, '--max-gap', '3d')
    assert out.returncode == 0, out.stderr
    gaps = json.loads((tmp_path / 'msft_1d_winsize40' / 'manifest.json').read_text())['labels']['gaps']
    assert gaps['max_gap'] == '3 days 00:00:00' and gaps['gaps'] >= 1 and gaps['left_out_crossing'] > 0


def children(pid: int) -> list[int]:
    return [int(c) for c in Path(f'/proc/{pid}/task/{pid}/children').read_text().split()]


def alive(pid: int) -> bool:
    try: return Path(f'/proc/{pid}/status').read_text().split('State:')[1].split()[0] not in ('Z', 'X')
    except (FileNotFoundError, IndexError): return False


def test_workers_die_with_the_killed_main_process_and_a_rerun_finishes(tmp_path):
    args = (SPY, '--dataset', 'spy', '--data-dir', tmp_path, *SPY_FORMAT, '--timeframe', '5m', '--resample',
            '--image-size', 64, '--workers', 2, '--chunk', 32, '--compress-level', 6)
    folder = tmp_path / 'spy_5m_winsize40'
    proc = subprocess.Popen([str(BIN / 'tsic'), 'build', *map(str, args)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while len(list(folder.rglob('*.png'))) < 200 and time.time() < deadline and proc.poll() is None: time.sleep(0.05)
    workers = children(proc.pid)
    assert proc.poll() is None and len(workers) == 2, "the build finished before it could be interrupted"
    os.kill(proc.pid, signal.SIGKILL); proc.wait()  # the main process only, not its group
    deadline = time.time() + 10
    while any(map(alive, workers)) and time.time() < deadline: time.sleep(0.1)
    assert not any(map(alive, workers)), "PNG workers outlived the build's main process"
    out = tsic_build(*args, timeout=300)  # the lock is free: no hang
    assert out.returncode == 0, out.stderr
    assert json.loads((folder / 'manifest.json').read_text())['n_images'] == len(list(folder.rglob('*.png')))


def test_timeframe_is_inferred_and_a_wrong_one_refused(tmp_path):
    src = spy_head(tmp_path)
    out = tsic_build(src, '--dataset', 'spy', '--data-dir', tmp_path, *SPY_FORMAT, '--image-size', 48, '--workers', 1)
    assert out.returncode == 0, out.stderr
    manifest = json.loads((tmp_path / 'spy_1m_winsize40' / 'manifest.json').read_text())  # named after the 1-minute bars
    assert manifest['options']['timeframe'] == '1m' and (tmp_path / 'spy_1m_features.csv').exists()
    out = tsic_build(src, '--dataset', 'spy', '--data-dir', tmp_path / 'b', *SPY_FORMAT, '--timeframe', '1d')
    assert out.returncode == 2 and "bars are 1m apart (median spacing), not '1d': set build.resample (--resample)" in out.stderr
    assert not (tmp_path / 'b').exists()
