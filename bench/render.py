"""Rendering speed, side by side in one run: tsic against mplfinance, matplotlib and pyts; peak memory of a big build.

    python bench/render.py [--quick]

1. 40-bar candlestick charts at 128 and 224 px, charts/s: tsic to arrays (all cores; into a buffer reused across
   calls, as a training loop reuses its batch memory, and into a new array each call, whose pages the system must
   first zero: 616 MB for 4,096 charts at 224 px), tsic to PNG files (the real
   `build_chart_dataset` path: render + PNG encode + write, parallel processes), mplfinance to PNG files and to arrays,
   and a plain matplotlib line plot per chart.
2. GASF, GADF, MTF and RP of 10,000 series of length 40 and 150 at their natural size: tsic against pyts.
3. Peak memory (whole process tree, sampled every 20 ms) while building a chart dataset of ~17,500 images from
   examples/market/spy_1m_2011-03.csv and of ~31,600 images from the January and March files together.
Needs the bench extra: pip install -e ".[bench]".
"""
import argparse, os, shutil, sys, tempfile, time
from pathlib import Path
import numpy as np, pandas as pd

ROOT = Path(__file__).resolve().parents[1]
MARKET = ROOT / 'examples' / 'market'


def timed(fn, repeat=3):
    "Best wall time of `repeat` calls."
    best = float('inf')
    for _ in range(repeat):
        start = time.perf_counter(); fn(); best = min(best, time.perf_counter() - start)
    return best


def random_windows(n, bars=40, seed=0):
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(0.005 * rng.standard_normal((n, bars + 1)).cumsum(1))  # a geometric walk: prices stay positive
    o, c = close[:, :-1], close[:, 1:]
    s = np.abs(rng.standard_normal((n, bars))) * 0.002 * c
    return np.stack([o, np.maximum(o, c) + s, np.minimum(o, c) - s, c, rng.integers(100, 1000, (n, bars))], -1)


def mplfinance_rate(windows, size, png, n):
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt, mplfinance as mpf
    index = pd.date_range('2024-01-02 09:30', periods=windows.shape[1], freq='15min')
    def one(w, out):
        df = pd.DataFrame(w[:, :4], index=index, columns=['Open', 'High', 'Low', 'Close'])
        fig, _ = mpf.plot(df, type='candle', returnfig=True, figsize=(size / 100, size / 100), axisoff=True, style='yahoo')
        if png: fig.savefig(out, format='png', dpi=100)
        else: fig.canvas.draw(); np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
        plt.close(fig)
    with tempfile.TemporaryDirectory() as d:
        one(windows[0], Path(d) / 'warm.png')
        start = time.perf_counter()
        for i in range(n): one(windows[i], Path(d) / f'{i}.png')
        return n / (time.perf_counter() - start)


def matplotlib_line_rate(windows, size, n):
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    start = time.perf_counter()
    for i in range(n):
        fig, ax = plt.subplots(figsize=(size / 100, size / 100), dpi=100); ax.plot(windows[i, :, 3]); ax.axis('off')
        fig.canvas.draw(); np.asarray(fig.canvas.buffer_rgba())[..., :3].copy(); plt.close(fig)
    return n / (time.perf_counter() - start)


def tsic_png_rate(n, size):
    "Charts/s of the real dataset builder (render, PNG encode, write; one process per core)."
    from tsic.labels import ChartDatasetSpec
    from tsic.build import build_chart_dataset
    w = random_windows(1, n + 100)[0]
    bars = pd.DataFrame(w, columns=['open', 'high', 'low', 'close', 'volume'],
                        index=pd.date_range('2000-01-01', periods=len(w), freq='1min', name='timestamp'))
    with tempfile.TemporaryDirectory() as d:
        start = time.perf_counter()
        folder = build_chart_dataset(bars, d, ChartDatasetSpec(dataset='bench', timeframe='1m', image_size=size, horizon=1))
        took = time.perf_counter() - start
        return sum(1 for _ in folder.rglob('*.png')) / took


def charts_section(quick):
    from tsic.charts import render_chart
    n_tsic, n_png, n_mpl = (1024, 1000, 10) if quick else (4096, 4000, 40)
    windows = random_windows(max(n_tsic, n_mpl))
    print(f"## 1. 40-bar candlestick charts, charts/s ({os.cpu_count()} cores)")
    print("| size | tsic arrays, into a reused buffer | tsic arrays, a new array each call | tsic PNG files | mplfinance PNG | mplfinance arrays | "
          "matplotlib line | tsic arrays (reused buffer / new array) / mplfinance PNG |")
    print("|---|---|---|---|---|---|---|---|")
    for size in (128, 224):
        buffer = np.zeros((n_tsic, size, size, 3), np.uint8)  # touched once: the system's page zeroing is not timed
        reused = n_tsic / timed(lambda: render_chart(windows[:n_tsic], size, out=buffer))
        fresh = n_tsic / timed(lambda: render_chart(windows[:n_tsic], size))
        buffer = None  # its memory back before the next size
        png = tsic_png_rate(n_png, size)
        mpf_png, mpf_arr = mplfinance_rate(windows, size, True, n_mpl), mplfinance_rate(windows, size, False, n_mpl)
        line = matplotlib_line_rate(windows, size, n_mpl)
        print(f"| {size} | {reused:,.0f} | {fresh:,.0f} | {png:,.0f} | {mpf_png:,.1f} | {mpf_arr:,.1f} | {line:,.1f} | "
              f"{reused / mpf_png:,.0f}× / {fresh / mpf_png:,.0f}× |", flush=True)


def encodings_section(quick):
    from pyts.image import GramianAngularField, MarkovTransitionField, RecurrencePlot
    from tsic.encodings import gasf, gadf, mtf, recurrence_plot
    n = 2000 if quick else 10_000
    print(f"\n## 2. Image encodings of {n:,} series at their natural size, series/s")
    print("| encoding | length | tsic | pyts | tsic / pyts |")
    print("|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    for length in (40, 150):
        x = rng.standard_normal((n, length)).cumsum(1)
        pairs = {'GASF': (lambda: gasf(x), lambda: GramianAngularField(method='summation').fit_transform(x)),
                 'GADF': (lambda: gadf(x), lambda: GramianAngularField(method='difference').fit_transform(x)),
                 'MTF': (lambda: mtf(x), lambda: MarkovTransitionField(n_bins=8).fit_transform(x)),
                 'RP': (lambda: recurrence_plot(x), lambda: RecurrencePlot().fit_transform(x))}
        for name, (ours, theirs) in pairs.items():
            t_ours, t_theirs = timed(ours, 2), timed(theirs, 2)
            print(f"| {name} | {length} | {n / t_ours:,.0f} | {n / t_theirs:,.0f} | {t_theirs / t_ours:.1f}× |", flush=True)


def peak_tree_rss(cmd):
    "Run `cmd`; return (seconds, peak summed RSS of it and its children in MiB)."
    import psutil, subprocess
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ps, peak = psutil.Process(proc.pid), 0
    start = time.perf_counter()
    while proc.poll() is None:
        try: rss = sum(p.memory_info().rss for p in [ps, *ps.children(recursive=True)])
        except psutil.Error: continue
        peak = max(peak, rss); time.sleep(0.02)
    if proc.returncode: sys.exit(proc.stderr.read().decode())
    return time.perf_counter() - start, peak / 2**20


def memory_section(quick):
    files = [MARKET / 'spy_1m_2011-03.csv'] + ([] if quick else [MARKET / 'spy_1m_2011-01.csv'])
    print("\n## 3. Building a dataset from 1-minute SPY bars at 128 px: peak memory of the whole process tree")
    print("| source | images | seconds | images/s | peak RSS (MiB) |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as d:
        both = Path(d) / 'spy_1m_2011-01+03.csv'
        if len(files) > 1: both.write_text(''.join(f.read_text() for f in sorted(files)))
        for src in [files[0]] + ([both] if len(files) > 1 else []):
            out = Path(d) / src.stem
            seconds, peak = peak_tree_rss([str(Path(sys.executable).parent / 'tsic'), 'build', str(src), '--dataset', 'spy',
                                           '--data-dir', str(out), '--sep', ';', '--names', 'timestamp', 'open', 'high', 'low',
                                           'close', 'volume', '--time-format', '%Y%m%d %H%M%S', '--timeframe', '1m',
                                           '--image-size', '128'])
            n = sum(1 for _ in out.rglob('*.png'))
            print(f"| {src.name} | {n:,} | {seconds:.0f} | {n / seconds:,.0f} | {peak:,.0f} |", flush=True)
            shutil.rmtree(out)


if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--quick', action='store_true', help='fewer charts and series (a smoke run)')
    p.add_argument('--only', choices=['charts', 'encodings', 'memory'])
    a = p.parse_args()
    for name, section in [('charts', charts_section), ('encodings', encodings_section), ('memory', memory_section)]:
        if a.only in (None, name): section(a.quick)
