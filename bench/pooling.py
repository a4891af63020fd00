"""Many assets in one dataset: does the chart model learn more from several correlated assets than from one alone?

    python bench/pooling.py [--signal squeeze] [--assets 3] [--bars 2000] [--out bench/results/pooling]
    python bench/pooling.py --quick        # a small, fast run of every step (the slow test runs it)

Seeded synthetic hourly assets (nothing downloaded), each with the same planted signal as `bench/planted.py` (its own
events, its own noise) plus a common factor, so their returns are correlated (about 0.3). All of them are written as
CSV files into one folder and built with one `tsic build FOLDER` (one dataset per asset, split on one calendar), then
the walk-forward report (`nbs/walk_forward.ipynb`, papermill, the recipe of `configs/demo.yaml`, single mode) runs:

- once per asset **alone** (`datasets: [asset_k]`), and
- once **pooled** (`datasets: [asset_0, ..., asset_K-1]`): one model trained on every asset's windows.

Both runs cut the same folds (one calendar: the assets share their hourly clock), so each asset is tested on the same
windows either way. The table gives, per asset, the test macro F1 (all folds pooled, `per_asset.csv`) of the model
trained alone and of the pooled model, and of the causal persistence rule. Pooling helps where the pooled model beats
the model trained on the asset alone. Results: OUT.md and OUT.csv.
"""
import argparse, sys, time
from pathlib import Path
import numpy as np, pandas as pd, yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from planted import CLASSES, ROOT, SIGMA, SIGNALS, WINDOW, HORIZON, planted_bars, planted_returns, run, save_table, show_row  # noqa: E402
from tsic.metrics import block_bootstrap_difference  # noqa: E402

COMMON = 0.7  # the common factor's share of one bar's noise, in SIGMA: correlation about COMMON^2 / (1 + COMMON^2)


def asset_bars(signal: str, assets: int, n: int, seed: int) -> dict[str, pd.DataFrame]:
    "Hourly bars of `assets` correlated assets, each with `signal` planted (its own events and noise) plus a common factor."
    common = COMMON * SIGMA * np.random.default_rng(seed + 1000).standard_normal(n)
    return {f'asset_{k}': planted_bars(planted_returns(signal, n, seed + k)[0] + common, seed + k) for k in range(assets)}


def build(a, work: Path) -> tuple[Path, list[str], float]:
    "Every asset written to one folder and built with one `tsic build`; the data folder, the asset names and their mean return correlation."
    bars = asset_bars(a.signal, a.assets, a.bars, a.seed)
    folder = work / 'bars'; folder.mkdir(parents=True, exist_ok=True)
    for name, b in bars.items(): b.to_csv(folder / f'{name}.csv', index=False)
    data = work / 'data'
    run([str(Path(sys.executable).parent / 'tsic'), 'build', str(folder), '--data-dir', str(data), '--image-size', str(a.image_size),
         '--window', str(WINDOW), '--horizon', str(HORIZON), '--label-rule', 'zscore', '--rebuild'], work / 'log.txt')
    corr = np.corrcoef(np.stack([np.diff(np.log(b.close.to_numpy())) for b in bars.values()]))
    return data, list(bars), float(corr[np.triu_indices(len(bars), 1)].mean())


def config(a, data: Path, datasets: list[str], work: Path, name: str) -> Path:
    "A config of `configs/demo.yaml`'s recipe on `datasets` of the build in `data`."
    demo = yaml.safe_load((ROOT / 'configs' / 'demo.yaml').read_text())
    cfg = {**demo, 'datasets': datasets, 'data_dir': str(data), 'image_size': a.image_size, 'check_data': False, 'tensorboard': False,
           'cache_dir': str(work / 'cache'), **{f'dataset_{d}_dir': str(data / f'{d}_1h_winsize{WINDOW}') for d in datasets}, **a.override}
    path = work / f'{name}.yaml'
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def walk_forward(cfg: Path, a, run_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    "papermill's run of nbs/walk_forward.ipynb on `cfg`: its per-asset scores (`per_asset.csv`) and test predictions."
    params = ['-p', 'config', str(cfg), '-p', 'folds', str(a.folds), '-p', 'run_dir', str(run_dir), '-p', 'model_mode', 'single']
    if a.sample_limit: params += ['-p', 'sample_limit', str(a.sample_limit)]
    run([str(Path(sys.executable).parent / 'papermill'), 'nbs/walk_forward.ipynb', str(run_dir.with_suffix('.ipynb')), *params,
         '--log-output', '--no-progress-bar'], run_dir.parent / 'log.txt')
    return pd.read_csv(run_dir / 'per_asset.csv'), pd.read_csv(run_dir / 'test_predictions.csv')


def pooled_minus_alone(pooled: pd.DataFrame, alone: pd.DataFrame) -> dict:
    "The pooled model's test macro F1 minus the alone model's on the same windows, with a moving-block bootstrap 95% interval."
    both = pooled.merge(alone, on=['dataset', 'timestamp'], suffixes=('', '_alone'), validate='one_to_one')
    y, p, q = (both[c].map({c: i for i, c in enumerate(CLASSES)}).to_numpy() for c in ('label', 'model', 'model_alone'))
    return block_bootstrap_difference(y, p, q, len(CLASSES), block=WINDOW + HORIZON)


def markdown(table: pd.DataFrame, corr: float) -> str:
    lines = [f"Assets' mean return correlation: {corr:.2f}.", '',
             '| asset | model alone | model pooled | pooled − alone (95% CI) | persistence | test windows | minutes alone |', '|---|---|---|---|---|---|---|']
    for r in table.itertuples():
        lines.append(f"| {r.asset} | {r.alone:.3f} | **{r.pooled:.3f}** | {r.difference:+.3f} ({r.low:+.3f} to {r.high:+.3f}) | "
                     f"{r.persistence:.3f} | {r.windows} | {r.minutes_alone:.1f} |")
    return '\n'.join(lines) + '\n'


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--signal', default='squeeze', choices=SIGNALS)
    p.add_argument('--assets', type=int, default=3)
    p.add_argument('--bars', type=int, default=2000, help='hourly bars per asset')
    p.add_argument('--folds', type=int, default=4)
    p.add_argument('--image-size', type=int, default=96, help="the charts' size (configs/demo.yaml's)")
    p.add_argument('--seed', type=int, default=0, help="the bars' seed (the training seed is the config's)")
    p.add_argument('--sample-limit', type=int, help='at most N windows per split and fold (quick runs)')
    p.add_argument('--work', default='runs/pooling', help='bars, builds and walk-forward runs go into a new timestamped folder here')
    p.add_argument('--out', help='write the table to OUT.md and OUT.csv')
    p.add_argument('--quick', action='store_true', help='2 assets of 1,000 bars, 2 folds, 48-px charts, 1 epoch: every step, fast')
    return p


def main(argv=None) -> pd.DataFrame:
    a = parser().parse_args(argv)
    a.override = {}
    if a.quick:
        a.assets, a.bars, a.folds, a.image_size = 2, 1000, 2, 48
        a.override = {'max_epochs': 1, 'model_architecture_name': 'resnet18', 'pretrained': False, 'batch_size': 32,
                      'use_progressive_unfreezing': False}
    work = (ROOT / a.work / time.strftime('%Y%m%d-%H%M%S')).resolve()  # a fresh folder each run: a run folder is never reused
    data, assets, corr = build(a, work)
    start = time.perf_counter()
    pooled, pooled_tested = walk_forward(config(a, data, assets, work, 'pooled'), a, work / 'wf-pooled')
    pooled = pooled.set_index(['predictor', 'dataset'])
    minutes_pooled = (time.perf_counter() - start) / 60
    rows = []
    for asset in assets:
        start = time.perf_counter()
        alone, alone_tested = walk_forward(config(a, data, [asset], work, asset), a, work / f'wf-{asset}')
        alone = alone.set_index(['predictor', 'dataset'])
        d = pooled_minus_alone(pooled_tested[pooled_tested.dataset == asset], alone_tested)
        rows.append({'asset': asset, 'alone': alone.macro_f1['model', asset], 'pooled': pooled.macro_f1['model', asset],
                     'difference': d['difference'], 'low': d['low'], 'high': d['high'],
                     'persistence': pooled.macro_f1['persistence', asset], 'windows': int(pooled.support['model', asset]),
                     'windows_alone': int(alone.support['model', asset]), 'minutes_alone': (time.perf_counter() - start) / 60,
                     'minutes_pooled': minutes_pooled})
        show_row(rows[-1])
    table = pd.DataFrame(rows)
    save_table(table, markdown(table, corr) + f"\nPooled run: {minutes_pooled:.1f} minutes; mean over assets: alone "
               f"{table.alone.mean():.3f}, pooled {table.pooled.mean():.3f}.\n", a.out)
    return table


if __name__ == '__main__':
    main()
