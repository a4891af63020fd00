"""Datasets larger than memory: charts drawn on the fly in the loader against the image cache and fastai's PNG pipeline.

    python bench/scale.py [--windows 5000] [--scales 1 10 100] [--batches 60] [--out bench/results/scale] [--quick]

The bars are synthetic (a geometric random walk of 1-minute OHLCV bars, no gaps; seed 0), so any number of windows
can be made; `data_source: series` cuts them into labelled 40-bar windows as it does a real file. For each number of
windows (`--windows` × each of `--scales`) a fresh process loads the data and reads `--batches` training batches of
256 charts of 128 px (shuffled, as training reads them) and reports:

- delivered/s: charts per second the training loader hands over (`uint8` batches, what goes to the GPU);
- with augment/s: the same, then augmented (random zoom, lighting) and normalised by `ChartInput` on this CPU, as a
  CPU-only run does it (on a GPU that step runs there);
- prepare s: loading the data (reading the bars, labelling, and for the cache: drawing every window into it; for
  fastai: `tsic build` writing the PNG files);
- peak MB: the process's peak resident memory (`ru_maxrss`), which includes the pages of a memory-mapped cache it
  touched; and the same above what the process held after importing torch, fastai and tsic.

Paths: `image_cache: none` (drawn per batch from the bars, nothing stored), `image_cache: mmap` (every window drawn
once into a memory-mapped cache file; skipped when the file would not fit on the disk), and, at the first scale, the
plain fastai pipeline: PNG files written by `tsic build`, read by `ImageDataLoaders.from_folder` with
`aug_transforms` (zoom 1.05, lighting 0.1, its default worker processes).
"""
import argparse, json, os, resource, shutil, subprocess, sys, tempfile, time
from pathlib import Path
import numpy as np, pandas as pd

ROOT = Path(__file__).resolve().parents[1]
WINDOW, SIZE, BS = 40, 128, 256


def synthetic_bars(n: int, seed: int = 0) -> pd.DataFrame:
    "`n` 1-minute OHLCV bars of a geometric random walk, without gaps."
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(0.001 * rng.standard_normal(n + 1).cumsum())
    o, c = close[:-1], close[1:]
    spread = np.abs(rng.standard_normal(n)) * 0.0005 * c
    return pd.DataFrame({'timestamp': pd.date_range('2020-01-01', periods=n, freq='1min'), 'open': o,
                         'high': np.maximum(o, c) + spread, 'low': np.minimum(o, c) - spread, 'close': c,
                         'volume': rng.integers(100, 1000, n)})


def config(work: Path, csv: Path, cache: str):
    from tsic.config import load_config
    return load_config(None, data_source='series', datasets=['syn'], image_size=SIZE, batch_size=BS, data_dir=str(work),
                       cache_dir=str(work / 'cache'), image_cache=cache, build={'sources': {'syn': str(csv)}, 'window': WINDOW},
                       augment=True, pretrained=False, model_architecture_name='resnet18', check_data=False)


def rates(batches, n_batches: int, encode=None) -> float:
    "Charts per second over `n_batches` of the iterator `batches` (after one warm-up batch), each passed to `encode` if given."
    next(batches)
    start, n = time.perf_counter(), 0
    for _ in range(n_batches):
        xb = next(batches)[0]
        if encode: encode(xb)
        n += len(xb)
    return n / (time.perf_counter() - start)


def measure(work: Path, csv: Path, cache: str, n_batches: int) -> dict:
    "One path at one size, in this (fresh) process."
    import torch
    from tsic.sources import load_data
    from tsic.loaders import chart_dataloaders, ChartInput
    imports = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # torch, fastai, tsic
    cfg = config(work, csv, cache)
    start = time.perf_counter()
    data = load_data(cfg)
    prepare = time.perf_counter() - start
    train = chart_dataloaders(data, cfg).train
    chart_input = ChartInput.from_config(cfg)
    endless = lambda: (b for _ in iter(int, 1) for b in train)
    delivered = rates(endless(), n_batches)
    augmented = rates(endless(), n_batches, lambda xb: chart_input.encode(xb, training=True, reuse=True))  # as ChartInput.before_batch does
    return {'path': f'image_cache: {cache}', 'windows': len(data), 'delivered_per_s': delivered, 'augmented_per_s': augmented,
            'prepare_s': prepare, 'peak_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 'imports_mb': imports,
            'torch_threads': torch.get_num_threads()}


def fastai_png(work: Path, csv: Path, n_batches: int) -> dict:
    "fastai's own pipeline on the same windows written as PNG files by `tsic build`."
    from fastai.vision.all import ImageDataLoaders, aug_transforms
    from tsic.build import build_from_csv
    from tsic.labels import ChartDatasetSpec
    imports = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    folder = build_from_csv(csv, work / 'png', ChartDatasetSpec(dataset='syn', image_size=SIZE, window=WINDOW))
    built = time.perf_counter() - start
    dls = ImageDataLoaders.from_folder(folder, train='train', valid='val', bs=BS, device='cpu',
                                       batch_tfms=aug_transforms(do_flip=False, max_rotate=0., max_zoom=1.05, max_warp=0., max_lighting=0.1))
    rate = rates((b for _ in iter(int, 1) for b in dls.train), n_batches)
    return {'path': 'fastai PNG pipeline', 'windows': len(list(folder.rglob('*.png'))), 'delivered_per_s': None, 'augmented_per_s': rate,
            'prepare_s': built, 'peak_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 'imports_mb': imports,
            'workers': dls.train.num_workers}


def in_fresh_process(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, cwd=ROOT)
    if out.returncode: raise RuntimeError(f"{' '.join(args)} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def fits_on_disk(work: Path, windows: int) -> bool:
    return windows * SIZE * SIZE * 3 < shutil.disk_usage(work).free * 0.8


def table(rows: list[dict]) -> str:
    fmt = lambda v, f: '' if v is None else format(v, f)
    lines = ['| path | windows | delivered/s | with augment/s | prepare s | peak MB | peak MB above the imports |', '|---|---|---|---|---|---|---|']
    for r in rows:
        lines.append(f"| {r['path']} | {r['windows']:,} | {fmt(r['delivered_per_s'], ',.0f')} | {fmt(r['augmented_per_s'], ',.0f')} "
                     f"| {fmt(r['prepare_s'], '.1f')} | {fmt(r['peak_mb'], ',.0f')} | {fmt(r['peak_mb'] - r['imports_mb'], ',.0f')} |")
    return '\n'.join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--windows', type=int, default=5000, help='windows at scale 1')
    p.add_argument('--scales', type=int, nargs='+', default=[1, 10, 100])
    p.add_argument('--batches', type=int, default=60, help='batches of 256 timed per measurement')
    p.add_argument('--out', default=str(ROOT / 'bench' / 'results' / 'scale'), help='writes OUT.md and OUT.json')
    p.add_argument('--measure', nargs=4, metavar=('WORK', 'CSV', 'CACHE', 'BATCHES'), help=argparse.SUPPRESS)
    p.add_argument('--fastai', nargs=3, metavar=('WORK', 'CSV', 'BATCHES'), help=argparse.SUPPRESS)
    p.add_argument('--quick', action='store_true', help='1,200 windows, one scale, 2 batches, written to a scratch folder unless --out says: a check that it runs')
    a = p.parse_args()
    if a.quick:
        a.windows, a.scales, a.batches = 1200, [1], 2
        if a.out == p.get_default('out'): a.out = str(Path(tempfile.mkdtemp()) / 'scale')
    if a.measure:
        work, csv, cache, n = a.measure
        print(json.dumps(measure(Path(work), Path(csv), cache, int(n)))); return
    if a.fastai:
        work, csv, n = a.fastai
        print(json.dumps(fastai_png(Path(work), Path(csv), int(n)))); return
    rows = []
    with tempfile.TemporaryDirectory(dir=ROOT) as tmp:  # on the project's disk: /tmp may be small
        for scale in a.scales:
            work = Path(tmp) / f'x{scale}'; work.mkdir()
            csv = work / 'syn.csv'
            synthetic_bars(a.windows * scale + 400).to_csv(csv, index=False)
            for cache in ('none', 'mmap'):
                if cache == 'mmap' and not fits_on_disk(work, a.windows * scale):
                    print(f"x{scale}: the cache of {a.windows * scale:,} charts ({a.windows * scale * SIZE * SIZE * 3 / 1e9:.0f} GB) "
                          "does not fit on this disk: skipped", flush=True); continue
                row = {'scale': scale, **in_fresh_process('--measure', str(work), str(csv), cache, str(a.batches))}
                rows.append(row); print(json.dumps(row), flush=True)
            if scale == a.scales[0]:
                row = {'scale': scale, **in_fresh_process('--fastai', str(work), str(csv), str(max(2, a.batches // 4)))}
                rows.append(row); print(json.dumps(row), flush=True)
            shutil.rmtree(work)
    out = Path(a.out); out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix('.json').write_text(json.dumps(rows, indent=1))
    header = (f"`python bench/scale.py --windows {a.windows} --scales {' '.join(map(str, a.scales))} --batches {a.batches}` "
              f"on {os.cpu_count()} CPU cores; synthetic 1-minute bars (random walk, seed 0), 40-bar candlestick charts of "
              f"{SIZE} px, batches of {BS}.\n\n")
    out.with_suffix('.md').write_text(header + table(rows) + '\n')
    print(table(rows))


if __name__ == '__main__':
    main()
