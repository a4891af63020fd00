"""Inference latency and throughput on this machine (issue 6), side by side in one run.

One window, the way a live system scores the newest bar: raw OHLCV bars (the last window + warm-up) → checked →
drawn → resized → network → probabilities table (`Predictor.predict_bars(bars, last=1)`), timed per call;
p50 and p95 over `--calls` calls after warm-up, with the network run by PyTorch (eager) and by ONNX Runtime
(`runtime='onnx'`). Also the parts (drawing alone; the network alone: eager, TorchScript, ONNX Runtime), the ratio of
the whole call to the network's own time in the same run, each stage's time inside the call's loop, and batch throughput (every window of the MSFT daily
history, windows/s) for both runtimes.

The network has random weights (latency does not depend on them); the checkpoint is written by tsic itself.
    python bench/predict.py [--size 96] [--arch resnet18] [--calls 300] [--threads N] [--json out.json] [--quick]
"""
import argparse, json, tempfile, time, warnings
from pathlib import Path
import numpy as np, torch

ROOT = Path(__file__).resolve().parents[1]


def percentiles(times: list[float]) -> dict:
    ms = np.array(times) * 1e3
    return {'p50_ms': float(np.percentile(ms, 50)), 'p95_ms': float(np.percentile(ms, 95)), 'mean_ms': float(ms.mean())}


def timed(fn, calls: int, warmup: int = 10) -> dict:
    for _ in range(warmup): fn()
    times = []
    for _ in range(calls):
        t = time.perf_counter(); fn(); times.append(time.perf_counter() - t)
    return percentiles(times)


def stages(p, tail, calls: int, warmup: int = 10) -> dict:
    "p50 of each stage of `p.predict_bars(tail, last=1)` timed inside the call's own loop (read the bars, draw, network, table), in ms."
    from tsic.predict import prediction_table
    clock = {k: [] for k in ('read_bars', 'draw', 'network', 'table')}
    for i in range(warmup + calls):
        t0 = time.perf_counter(); data = p.read_bars(tail, last=1)
        t1 = time.perf_counter(); images = data.charts()
        t2 = time.perf_counter(); probs = p.probabilities(images)
        t3 = time.perf_counter(); prediction_table(data.samples, probs, p.decide(probs), p.class_names); t4 = time.perf_counter()
        if i >= warmup:
            for k, (a, b) in zip(clock, ((t0, t1), (t1, t2), (t2, t3), (t3, t4))): clock[k].append(b - a)
    return {k: float(np.median(v) * 1e3) for k, v in clock.items()}


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

    for name, predictor in (('batch', p), ('batch_onnx', po)):
        t = time.perf_counter(); table = predictor.predict_bars(bars); elapsed = time.perf_counter() - t
        out[name] = {'windows': len(table), 'seconds': elapsed, 'windows_per_s': len(table) / elapsed}
    print(json.dumps(out, indent=1))
    e2e, fast = out['one_window_end_to_end'], out['one_window_end_to_end_onnx']
    print(f"\none window, raw bars -> probabilities ({args.arch}, {args.size} px, {out['threads']} threads): "
          f"eager p50 {e2e['p50_ms']:.1f} ms (p95 {e2e['p95_ms']:.1f}); ONNX Runtime p50 {fast['p50_ms']:.1f} ms (p95 {fast['p95_ms']:.1f}), "
          f"{out['onnx_end_to_end_over_network']:.2f}x its network's {out['one_window_network_onnx']['p50_ms']:.1f} ms "
          f"(goal p50 <= 5 ms: {'met' if fast['p50_ms'] <= 5 else 'missed'}; ratio <= 1.3: {'met' if out['onnx_end_to_end_over_network'] <= 1.3 else 'missed'})")
    print('stages inside the ONNX call, p50: ' + ', '.join(f"{k} {v:.2f} ms" for k, v in out['one_window_stages_onnx'].items()))
    for name in ('batch', 'batch_onnx'):
        print(f"{name}: {out[name]['windows']} windows in {out[name]['seconds']:.1f} s = {out[name]['windows_per_s']:.0f} windows/s")
    if args.json: Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == '__main__':
    main()
