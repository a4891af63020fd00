"""Inference latency and throughput on this machine (issues 6 and 28), side by side in one run.

One window, the way a live system scores the newest bar, timed per call (p50 and p95 over `--calls` calls after
warm-up), with the network run by PyTorch (eager), by ONNX Runtime (`runtime='onnx'`) and by ONNX Runtime with int8 convolutions
(`runtime='onnx-int8'`, calibrated on the history before the timed bars):
- live: the bar that has just closed → checked → the newest window drawn → network → the call
  (`Predictor.stream().push(bar)`, each call the next bar of the MSFT daily history);
- from a table: raw OHLCV bars (the last window + warm-up) → checked → drawn → network → probabilities table
  (`Predictor.predict_bars(bars, last=1)`).
Also the parts (drawing alone; the network alone: eager, TorchScript, ONNX Runtime, in a loop of its own and
interleaved with the live calls, one after each), the ratio of each whole call to the network's own time, each
stage's time inside the calls' loops, and batch throughput (every window of the MSFT daily history, windows/s) for
both runtimes.

The network has random weights (latency does not depend on them); the checkpoint is written by tsic itself.
    python bench/predict.py [--size 96] [--arch resnet18] [--calls 300] [--threads N] [--json out.json] [--quick]
"""
import argparse, json, tempfile, time, warnings
from pathlib import Path
import numpy as np, torch

ROOT = Path(__file__).resolve().parents[1]
WARMUP = 10  # calls made before timing


def percentiles(times: list[float]) -> dict:
    ms = np.array(times) * 1e3
    return {'p50_ms': float(np.percentile(ms, 50)), 'p95_ms': float(np.percentile(ms, 95)), 'mean_ms': float(ms.mean())}


def timed(fn, calls: int, warmup: int = WARMUP) -> dict:
    for _ in range(warmup): fn()
    times = []
    for _ in range(calls):
        t = time.perf_counter(); fn(); times.append(time.perf_counter() - t)
    return percentiles(times)


def stage_medians(names: tuple, step, calls: int, warmup: int = WARMUP) -> dict:
    "p50 in ms of each stage of `step(i)`, which does the work of call `i` and returns the clock before each stage and after the last."
    clock = {k: [] for k in names}
    for i in range(warmup + calls):
        ticks = step(i)
        if i >= warmup:
            for k, a, b in zip(names, ticks, ticks[1:]): clock[k].append(b - a)
    return {k: float(np.median(v) * 1e3) for k, v in clock.items()}


def stages(p, tail, calls: int) -> dict:
    "p50 of each stage of `p.predict_bars(tail, last=1)` timed inside the call's own loop (read the bars, draw, network, table), in ms."
    from tsic.predict import prediction_table
    def step(i):
        t0 = time.perf_counter(); data = p.read_bars(tail, last=1)
        t1 = time.perf_counter(); images = data.charts()
        t2 = time.perf_counter(); probs = p.probabilities(images)
        t3 = time.perf_counter(); prediction_table(data.samples, probs, p.decide(probs), p.class_names)
        return t0, t1, t2, t3, time.perf_counter()
    return stage_medians(('read_bars', 'draw', 'network', 'table'), step, calls)


def live(p, bars, start: int, calls: int, warmup: int = WARMUP) -> tuple[dict, dict, dict]:
    """p50/p95 of `p.stream().push(bar)` over the bars after `start` (the stream filled with the bars before), of the
    network alone on the same chart right after each push, and the p50 of each stage inside a push (in ms)."""
    stream, values = p.stream(history=bars.iloc[:start]), bars.to_numpy()
    pushes, network = [], []
    for k in range(warmup + calls):
        t = time.perf_counter(); call = stream.push(bars.index[start + k], *values[start + k]); t1 = time.perf_counter()
        chart = stream.bars.chart(); t2 = time.perf_counter(); p.probabilities(chart); t3 = time.perf_counter()
        assert call is not None, f"no call at {bars.index[start + k]}"
        if k >= warmup: pushes.append(t1 - t); network.append(t3 - t2)
    def step(k):  # the same work, stage by stage (`Stream.call`), on the next bars
        at = start + warmup + calls + k
        t0 = time.perf_counter(); stream.bars.push(bars.index[at], *values[at])
        t1 = time.perf_counter(); chart = stream.bars.chart()
        t2 = time.perf_counter(); probs = p.probabilities(chart)
        t3 = time.perf_counter(); p.class_names[p.decide(probs)[0]]
        return t0, t1, t2, t3, time.perf_counter()
    return percentiles(pushes), percentiles(network), stage_medians(('bar', 'draw', 'network', 'decide'), step, calls, warmup)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--arch', default='resnet18'); ap.add_argument('--size', type=int, default=128)
    ap.add_argument('--calls', type=int, default=300); ap.add_argument('--threads', type=int, default=None)
    ap.add_argument('--json')
    ap.add_argument('--quick', action='store_true', help='20 calls and 400 windows in the batch: a check that the bench runs')
    args = ap.parse_args()
    if args.threads: torch.set_num_threads(args.threads)
    warnings.simplefilter('ignore')
    from tsic.config import load_config
    from tsic.models import create_model
    from tsic.checkpoint import Checkpoint, Provenance
    from tsic.bars import load_msft
    from tsic.labels import ChartDatasetSpec
    from tsic.build import render_windows
    from tsic.predict import Predictor, export_model, load_exported

    cfg = load_config(ROOT / 'configs' / 'demo.yaml', model_architecture_name=args.arch, pretrained=False, image_size=args.size)
    bars = load_msft()
    spec = ChartDatasetSpec(image_size=args.size).for_bars(bars)  # the timeframe inferred from the bars, as tsic build does
    tmp = Path(tempfile.mkdtemp())
    ckpt = Checkpoint.of(create_model(cfg), cfg, Provenance('series', {'msft': spec.options()})).save(tmp / 'model.ckpt')
    if args.quick: args.calls, bars = 20, bars.iloc[-(400 + spec.window - 1 + spec.warmup):]  # 400 windows
    start = len(bars) - 2 * (args.calls + WARMUP)  # the live calls score the newest bars, one by one (two loops)
    p, po = Predictor.from_checkpoint(ckpt), Predictor.from_checkpoint(ckpt, runtime='onnx')
    tail = bars.iloc[-(spec.window + spec.warmup):]  # exactly what the newest window needs
    image = render_windows(tail, np.array([len(tail) - 1]), spec)

    out = {'device': 'cpu', 'threads': torch.get_num_threads(), 'arch': args.arch, 'image_size': args.size}
    out['one_window_end_to_end'] = timed(lambda: p.predict_bars(tail, last=1), args.calls)
    out['one_window_end_to_end_onnx'] = timed(lambda: po.predict_bars(tail, last=1), args.calls)
    out['one_window_drawing'] = timed(lambda: render_windows(tail, np.array([len(tail) - 1]), spec), args.calls)
    out['one_window_network_eager'] = timed(lambda: p.probabilities(image), args.calls)
    out['one_window_network_onnx'] = timed(lambda: po.probabilities(image), args.calls)
    run, _ = load_exported(export_model(p, tmp / 'model.pt'))
    nchw = np.ascontiguousarray(image.transpose(0, 3, 1, 2))
    out['one_window_network_torchscript'] = timed(lambda: run(nchw), args.calls)
    out['onnx_end_to_end_over_network'] = out['one_window_end_to_end_onnx']['p50_ms'] / out['one_window_network_onnx']['p50_ms']
    out['one_window_stages_onnx'] = stages(po, tail, args.calls)
    out['one_window_live'], _, _ = live(p, bars, start, args.calls)
    out['one_window_live_onnx'], out['one_window_network_onnx_interleaved'], out['one_window_live_stages_onnx'] = live(po, bars, start, args.calls)
    out['live_onnx_over_network'] = out['one_window_live_onnx']['p50_ms'] / out['one_window_network_onnx']['p50_ms']
    out['live_onnx_over_network_interleaved'] = out['one_window_live_onnx']['p50_ms'] / out['one_window_network_onnx_interleaved']['p50_ms']
    pq = p.quantized(bars.iloc[:start], max_change=1.0)  # int8, ranges from the bars before the timed ones; random weights: its answers are bench/quantize.py's
    out['one_window_network_int8'] = timed(lambda: pq.probabilities(image), args.calls)
    out['one_window_live_int8'], out['one_window_network_int8_interleaved'], out['one_window_live_stages_int8'] = live(pq, bars, start, args.calls)
    out['live_int8_over_network_interleaved'] = out['one_window_live_int8']['p50_ms'] / out['one_window_network_int8_interleaved']['p50_ms']

    for name, predictor in (('batch', p), ('batch_onnx', po), ('batch_int8', pq)):
        t = time.perf_counter(); table = predictor.predict_bars(bars); elapsed = time.perf_counter() - t
        out[name] = {'windows': len(table), 'seconds': elapsed, 'windows_per_s': len(table) / elapsed}
    print(json.dumps(out, indent=1))
    e2e, fast, lv, lvo = (out[k] for k in ('one_window_end_to_end', 'one_window_end_to_end_onnx', 'one_window_live', 'one_window_live_onnx'))
    net, inter = out['one_window_network_onnx']['p50_ms'], out['one_window_network_onnx_interleaved']['p50_ms']
    print(f"\none window ({args.arch}, {args.size} px, {out['threads']} threads), the network alone (ONNX Runtime) p50 {net:.2f} ms "
          f"in a loop of its own, {inter:.2f} ms after each live call")
    print(f"live, a bar -> the call (Stream.push): eager p50 {lv['p50_ms']:.2f} ms; ONNX Runtime p50 {lvo['p50_ms']:.2f} ms "
          f"(p95 {lvo['p95_ms']:.2f}), {out['live_onnx_over_network']:.2f}x the network ({out['live_onnx_over_network_interleaved']:.2f}x "
          f"interleaved) (goal p50 <= 5 ms: {'met' if lvo['p50_ms'] <= 5 else 'missed'}; ratio <= 1.3: "
          + ' and '.join(f"{'met' if out[k] <= 1.3 else 'missed'} {how}" for k, how in
                         (('live_onnx_over_network', 'against its own loop'), ('live_onnx_over_network_interleaved', 'interleaved'))) + ')')
    lq, nq = out['one_window_live_int8'], out['one_window_network_int8']
    print(f"live in int8 (runtime 'onnx-int8'): p50 {lq['p50_ms']:.2f} ms (p95 {lq['p95_ms']:.2f}); the network alone {nq['p50_ms']:.2f} ms "
          f"in its own loop, {out['one_window_network_int8_interleaved']['p50_ms']:.2f} ms after each live call "
          f"({out['live_int8_over_network_interleaved']:.2f}x interleaved)")
    print(f"from a table, bars -> probabilities (predict_bars(tail, last=1)): eager p50 {e2e['p50_ms']:.2f} ms; ONNX Runtime "
          f"p50 {fast['p50_ms']:.2f} ms (p95 {fast['p95_ms']:.2f}), {out['onnx_end_to_end_over_network']:.2f}x the network")
    print('stages inside the live ONNX call, p50: ' + ', '.join(f"{k} {v:.3f} ms" for k, v in out['one_window_live_stages_onnx'].items()))
    print('stages inside the live int8 call, p50: ' + ', '.join(f"{k} {v:.3f} ms" for k, v in out['one_window_live_stages_int8'].items()))
    print('stages inside the table ONNX call, p50: ' + ', '.join(f"{k} {v:.2f} ms" for k, v in out['one_window_stages_onnx'].items()))
    for name in ('batch', 'batch_onnx', 'batch_int8'):
        print(f"{name}: {out[name]['windows']} windows in {out[name]['seconds']:.1f} s = {out[name]['windows_per_s']:.0f} windows/s")
    if args.json: Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == '__main__':
    main()
