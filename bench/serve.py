"""`tsic serve` under load (issue 28), beside calling `Predictor` in-process, in one run.

The service runs as its own process (`tsic serve`, a random-weights checkpoint written by tsic itself); `--clients`
threads each POST one live window (the bars of the newest window as JSON, `last=1`) in a loop for `--seconds`, and the
run records every request's latency (p50, p99), requests/s, errors (non-200 answers and failed connections) and the
server's resident memory before and after. Beside it, the same window scored in this process by `Predictor.predict_bars`
(p50). Stops by itself.
    python bench/serve.py [--seconds 60] [--clients 16] [--size 96] [--arch resnet18] [--runtime onnx|onnx-int8|torch] [--json out.json] [--quick]
"""
import argparse, json, socket, subprocess, sys, tempfile, threading, time, urllib.error, urllib.request, warnings
from pathlib import Path
import numpy as np, psutil

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


def post(url: str, body: bytes) -> int:
    request = urllib.request.Request(url, data=body, headers={'content-type': 'application/json'})
    try:
        with urllib.request.urlopen(request, timeout=60) as r: r.read(); return r.status
    except urllib.error.HTTPError as e: return e.code
    except OSError: return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--seconds', type=float, default=60); ap.add_argument('--clients', type=int, default=16)
    ap.add_argument('--arch', default='resnet18'); ap.add_argument('--size', type=int, default=96)
    ap.add_argument('--runtime', default='onnx', choices=('torch', 'onnx', 'onnx-int8')); ap.add_argument('--max-batch', type=int, default=64)
    ap.add_argument('--json'); ap.add_argument('--quick', action='store_true', help='5 s at 4 clients: a check that the bench runs')
    args = ap.parse_args()
    if args.quick: args.seconds, args.clients = 5, 4
    warnings.simplefilter('ignore')
    from tsic.config import load_config
    from tsic.models import create_model
    from tsic.checkpoint import Checkpoint, Provenance
    from tsic.bars import load_msft
    from tsic.labels import ChartDatasetSpec
    from tsic.predict import Predictor

    cfg = load_config(ROOT / 'configs' / 'demo.yaml', model_architecture_name=args.arch, pretrained=False, image_size=args.size)
    bars = load_msft()
    spec = ChartDatasetSpec(image_size=args.size).for_bars(bars)
    ckpt = Checkpoint.of(create_model(cfg), cfg, Provenance('series', {'msft': spec.options()})).save(Path(tempfile.mkdtemp()) / 'model.ckpt')
    tail = bars.iloc[-(spec.window + spec.warmup):]
    body = json.dumps({'bars': [{'timestamp': t.isoformat(), **r} for t, r in zip(tail.index, tail.to_dict('records'))]}).encode()

    calibration = {'calibration': ckpt.parent / 'history.csv'} if args.runtime == 'onnx-int8' else {}  # the server's int8 calibration
    if calibration: bars.iloc[:-len(tail)].to_csv(calibration['calibration'], index_label='timestamp')  # the bars before the ones asked about
    p = Predictor.from_checkpoint(ckpt, runtime=args.runtime, **calibration)  # in-process, the same runtime, before the server starts
    for _ in range(10): p.predict_bars(tail, last=1)
    local = []
    for _ in range(200):
        t = time.perf_counter(); p.predict_bars(tail, last=1); local.append(time.perf_counter() - t)
    del p

    port = free_port()
    server = subprocess.Popen([str(BIN / 'tsic'), 'serve', str(ckpt), '--port', str(port), '--runtime', args.runtime,
                               '--max-batch', str(args.max_batch), *(f'--{k}={v}' for k, v in calibration.items())], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f'http://127.0.0.1:{port}'
    try:
        for _ in range(600):
            try:
                with urllib.request.urlopen(url + '/health', timeout=2): break
            except OSError: time.sleep(0.1)
        for _ in range(20): post(url + '/predict?last=1', body)  # warm-up
        rss_before = psutil.Process(server.pid).memory_info().rss
        latencies, statuses, stop = [], [], time.perf_counter() + args.seconds
        def client():
            while time.perf_counter() < stop:
                t = time.perf_counter(); status = post(url + '/predict?last=1', body)
                latencies.append(time.perf_counter() - t); statuses.append(status)
        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        started = time.perf_counter()
        for t in threads: t.start()
        for t in threads: t.join()
        elapsed = time.perf_counter() - started
        rss_after = psutil.Process(server.pid).memory_info().rss
        with urllib.request.urlopen(url + '/health') as r: health = json.loads(r.read())
    finally:
        server.terminate(); server.wait(60)
    ms = np.array(latencies) * 1e3
    out = {'arch': args.arch, 'image_size': args.size, 'runtime': args.runtime, 'clients': args.clients, 'seconds': elapsed,
           'requests': len(statuses), 'requests_per_s': len(statuses) / elapsed, 'errors': int(sum(s != 200 for s in statuses)),
           'p50_ms': float(np.percentile(ms, 50)), 'p99_ms': float(np.percentile(ms, 99)),
           'server_rss_mb_before': rss_before / 2**20, 'server_rss_mb_after': rss_after / 2**20,
           'forward_passes': health['forward_passes'], 'charts_per_pass': health['charts'] / max(health['forward_passes'], 1),
           'in_process_p50_ms': float(np.percentile(np.array(local) * 1e3, 50))}
    print(json.dumps(out, indent=1))
    print(f"\n{args.clients} clients for {elapsed:.0f} s ({args.arch}, {args.size} px, {args.runtime}): {out['requests']} requests, "
          f"{out['requests_per_s']:.0f}/s, p50 {out['p50_ms']:.1f} ms, p99 {out['p99_ms']:.1f} ms, {out['errors']} errors; "
          f"{out['charts_per_pass']:.1f} charts per forward pass; server memory {out['server_rss_mb_before']:.0f} -> "
          f"{out['server_rss_mb_after']:.0f} MiB; in-process predict_bars p50 {out['in_process_p50_ms']:.1f} ms")
    if args.json: Path(args.json).write_text(json.dumps(out, indent=1))
    return 0 if out['errors'] == 0 else 1


if __name__ == '__main__':
    sys.exit(main())
