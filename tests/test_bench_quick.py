"""The quick modes of the benchmarks run (slow: `make test-slow`), so a bench cannot rot unseen."""
import json, subprocess, sys
from pathlib import Path
import pandas as pd, pytest
from conftest import ROOT


def bench(script: str, *args, timeout=900) -> str:
    proc = subprocess.run([sys.executable, str(ROOT / 'bench' / script), '--quick', *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


@pytest.mark.slow
def test_predict_bench_measures_both_runtimes(tmp_path):
    out = bench('predict.py', '--size', '64', '--json', str(tmp_path / 'p.json'))
    figures = json.loads((tmp_path / 'p.json').read_text())
    assert figures['batch']['windows'] == figures['batch_onnx']['windows'] == 400
    assert 0 < figures['one_window_network_onnx']['p50_ms'] <= figures['one_window_end_to_end_onnx']['p50_ms']
    assert 'ONNX Runtime p50' in out and set(figures['one_window_stages_onnx']) == {'read_bars', 'draw', 'network', 'table'}
    assert 0 < figures['one_window_network_onnx_interleaved']['p50_ms'] <= figures['one_window_live_onnx']['p50_ms']  # a live call runs the network
    assert set(figures['one_window_live_stages_onnx']) == {'bar', 'draw', 'network', 'decide'} and 'live, a bar -> the call' in out
    assert 0 < figures['one_window_network_int8_interleaved']['p50_ms'] <= figures['one_window_live_int8']['p50_ms'] and 'live in int8' in out


@pytest.mark.slow
def test_quantize_bench_compares_int8_with_float32_on_a_trained_model(tmp_path):
    bench('quantize.py', '--out', str(tmp_path / 'q'))
    row = pd.read_csv(tmp_path / 'q.csv').iloc[0]
    assert row.dataset == 'Trace' and 0 <= row.same_class <= 1 and 0 < row.max_abs_prob_change < 1 and row.p50_ms_int8 > 0


@pytest.mark.slow
def test_serve_bench_runs_without_errors(tmp_path):
    for runtime in ('onnx', 'onnx-int8'):  # int8: the server calibrates on a CSV of bars (--calibration)
        bench('serve.py', '--size', '64', '--runtime', runtime, '--json', str(tmp_path / 's.json'))
        figures = json.loads((tmp_path / 's.json').read_text())
        assert figures['runtime'] == runtime and figures['errors'] == 0 and figures['requests'] > 10 and figures['p50_ms'] <= figures['p99_ms']


@pytest.mark.slow
def test_train_throughput_bench_compares_the_loop_with_pure_compute():
    out = bench('train_throughput.py', '--compile')
    assert 'ratio pipeline / compute' in out and 'images/s delivered' in out and "mode 'default'" in out and 'eager / compiled' in out


@pytest.mark.slow
def test_tune_demo_bench_runs_a_small_study(tmp_path):
    bench('tune_demo.py', '--out', str(tmp_path / 'tune'))
    row = json.loads((tmp_path / 'tune.json').read_text())
    assert row['trials'] == 2 and row['complete'] + row['pruned'] >= 1 and 0 <= row['tuned_test_f1'] <= 1


@pytest.mark.slow
def test_render_bench_quick():
    assert 'tsic arrays (reused buffer / new array) / mplfinance PNG' in bench('render.py', '--only', 'charts')


@pytest.mark.slow
def test_scale_bench_reads_charts_drawn_on_the_fly_and_from_the_cache(tmp_path):
    bench('scale.py', '--out', str(tmp_path / 'scale'))
    rows = json.loads((tmp_path / 'scale.json').read_text())
    assert {r['path'] for r in rows} >= {'image_cache: none', 'image_cache: mmap'} and all(r['delivered_per_s'] > 0 for r in rows if r.get('delivered_per_s'))


@pytest.mark.slow
def test_market_candidates_bench_runs_walk_forward_for_two_variants(tmp_path):
    bench('market_candidates.py', '--out', str(tmp_path / 'market'))
    import pandas as pd
    table = pd.read_csv(tmp_path / 'market.csv')
    assert table.variant.tolist() == ['base', 'multi'] and table.model.between(0, 1).all() and table.model_offsets.between(0, 1).all() and table.model_stacked.between(0, 1).all()
    trades = pd.read_csv(tmp_path / 'market_backtest.csv')  # each run's pooled backtest
    assert len(trades) == 2 * 6 and set(trades.predictor) == {'model', 'model_offsets', 'model_stacked', 'persistence', 'always_long', 'flat'}
    assert '| demo | base | always_long |' in (tmp_path / 'market_backtest.md').read_text()


@pytest.mark.slow
def test_gpu_train_bench_runs_every_mode_and_precision(tmp_path):
    "The GPU bench's quick mode on this machine (CPU): both modes in both precisions train, score and report their baselines."
    bench('gpu_train.py', '--out', str(tmp_path / 'gpu'), '--small-checkpoint', str(tmp_path / 'small'))
    rows = json.loads((tmp_path / 'gpu' / 'runs.json').read_text())
    assert {(r['mode'], r['precision']) for r in rows} == {(m, p) for m in ('single', 'multi') for p in ('bf16-mixed', '32')}
    assert all(r['epochs'] == 1 and 0 <= r['test_macro_f1'] <= 1 and 0 <= r['baseline_macro_f1'] <= 1 for r in rows)
    assert (tmp_path / 'small' / 'small.ckpt').stat().st_size > 0


@pytest.mark.slow
def test_ucr_bench_quick_scores_tsic_beside_minirocket(tmp_path):
    out = bench('ucr.py', '--out', str(tmp_path / 'ucr'))
    import pandas as pd
    row = pd.read_csv(tmp_path / 'ucr.csv').iloc[0]
    assert row.dataset == 'Trace' and 0 <= row.tsic_mean <= 1 and 0 <= row.minirocket_mean <= 1
    assert 'recipe: multi mode' in out and 'epochs 2, size 32' in out and 'seeds [0]' in out, out[:500]


@pytest.mark.slow
def test_tune_ucr_bench_quick_runs_a_two_trial_study(tmp_path):
    bench('tune_ucr.py', '--work', str(tmp_path / 'w'), '--out', str(tmp_path / 'tune'))
    [row] = json.loads((tmp_path / 'tune.json').read_text())
    assert row['dataset'] == 'Trace' and row['trials'] == 2 and len(row['tuned_seeds']) == 1 and (tmp_path / 'w' / 'study.db').is_file()


@pytest.mark.slow
def test_parts_table_bench_quick_fuses_the_parts_it_made(tmp_path):
    bench('parts_table.py', '--out', str(tmp_path / 'parts'))
    import pandas as pd
    row = pd.read_csv(tmp_path / 'parts.csv').iloc[0]
    assert row.dataset == 'Trace' and row.seeds == 1 and all(0 <= row[c] <= 1 for c in ('network', 'minirocket_head', 'fused'))


@pytest.mark.slow
def test_planted_probe_bench_quick_scores_every_signal(tmp_path):
    bench('planted_probe.py', '--json', str(tmp_path / 'probe.json'))
    rows = json.loads((tmp_path / 'probe.json').read_text())
    assert [r['signal'] for r in rows] == ['momentum', 'reversal', 'squeeze', 'none']
    assert all(0 <= r['ridge_on_window'] <= 1 and r['test_windows'] > 100 for r in rows), rows


@pytest.mark.slow
def test_the_gpu_check_script_runs_every_step_in_its_quick_mode(tmp_path):
    "bench/gpu_check.sh --quick on this CPU: each step (the benches' quick modes, the GPU tests collected) exits 0."
    import os
    env = {**os.environ, 'OUT': str(tmp_path / 'gpu'), 'PATH': f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    proc = subprocess.run(['bash', str(ROOT / 'bench' / 'gpu_check.sh'), '--quick'], capture_output=True, text=True, cwd=ROOT, env=env, timeout=900)
    log = (tmp_path / 'gpu' / 'log.txt').read_text()
    assert proc.returncode == 0 and '=== done: 0 step(s) failed' in log, log[-3000:]
    assert log.count('--- exit status 0:') == 6 and 'gpu_train.py' in log and '--collect-only' in log
    assert all(json.loads((tmp_path / 'gpu' / f'overhead_{p}.json').read_text())['pairs'] > 0 for p in ('32', 'bf16-mixed'))


@pytest.mark.slow
def test_pooling_bench_tests_each_asset_alone_and_pooled_on_the_same_windows(tmp_path):
    bench('pooling.py', '--work', str(tmp_path / 'work'), '--out', str(tmp_path / 'pooling'))
    import pandas as pd
    table = pd.read_csv(tmp_path / 'pooling.csv')
    assert table.asset.tolist() == ['asset_0', 'asset_1'] and (table.windows == table.windows_alone).all() and (table.windows > 100).all()
    assert table[['alone', 'pooled', 'persistence']].apply(lambda c: c.between(0, 1)).all().all()


QUICK_ELSEWHERE = {'planted.py': 'test_planted.py'}  # benches whose quick mode a test in another file runs


def test_every_bench_has_a_quick_mode_that_a_test_runs():
    "A new bench script without a quick mode, or one no test runs, fails here: no bench rots unseen."
    here = Path(__file__).read_text()
    scripts = sorted(p.name for p in (ROOT / 'bench').iterdir() if p.suffix in ('.py', '.sh'))
    assert len(scripts) > 10
    no_mode = [s for s in scripts if '--quick' not in (ROOT / 'bench' / s).read_text()]
    def run_by_a_test(script: str) -> bool:
        other = QUICK_ELSEWHERE.get(script)
        return f"'{script}'" in here or (other is not None and "'--quick'" in (ROOT / 'tests' / other).read_text())
    unrun = [s for s in scripts if not run_by_a_test(s)]
    assert not no_mode and not unrun, (no_mode, unrun)


@pytest.mark.slow
def test_train_overhead_bench_compares_the_learner_with_a_bare_loop(tmp_path):
    out = bench('train_throughput.py', '--overhead', '--json', str(tmp_path / 'o.json'))
    figures = json.loads((tmp_path / 'o.json').read_text())
    assert figures['bare_ms_per_batch'] > 0 and figures['tsic_ms_per_batch'] > 0 and figures['batches'] >= 1
    assert figures['pairs'] == figures['batches'] * 1 and figures['added_quartiles_ms'][0] <= figures['added_ms_per_batch'] <= figures['added_quartiles_ms'][1]
    assert {'ChartInput', 'ChartRecorder'} <= {r['callback'] for r in figures['callback_events']}, figures['callback_events']
    assert 'added by the loop' in out and 'by function, own time' in out
