"""Issue 14, part 3: why the market chart model only matches causal persistence. Each candidate is one walk-forward
run (the same folds, purge and seed as `nbs/walk_forward.ipynb`), reported beside the base recipe in one table:
pooled test macro F1, folds won, the model minus persistence with its 95% moving-block bootstrap interval, and how
often the model predicts what persistence predicts (does it learn the last known outcome, which its chart shows?).

    python bench/market_candidates.py --data demo spy --variants base multi --folds 4 --sample-limit 1500 --out bench/results/market
    python bench/market_candidates.py --quick     # the demo, base and multi, 2 folds of 40 windows, 1 epoch at 32 px: a check that it runs

Variants (config overrides on configs/demo.yaml or configs/spy_1m.yaml):
  base     the config as it is
  multi    the multi-modal model: the numeric window of the bars' causal features beside the chart
  long     12 epochs at most, early-stopping patience 6 (does it stop too early?)
  size128  charts at 128 px instead of 96
  balanced class weights in the loss (class_balance: weights)
  edge     balanced + the features at the chart's right-hand column pooled too (model.edge_pool)
  fused    the multi-modal model with balanced, edge and a ridge classifier on the window in late fusion
           (model.late_fusion: ridge): the candidates of the planted-signal bench (bench/planted.py)
  chart    the chart model with balanced, edge and a ridge classifier on the chart's profile in late fusion
           (model.late_fusion: ridge in single mode): the single-mode recipe of the planted-signal bench
"""
import argparse, json, sys, time, warnings
from pathlib import Path
import numpy as np, pandas as pd

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {'demo': 'configs/demo.yaml', 'spy': 'configs/spy_1m.yaml'}
VARIANTS = {'base': {}, 'multi': {'model_mode': 'multi'}, 'long': {'max_epochs': 12, 'early_stopping_patience': 6},
            'size128': {'image_size': 128}, 'balanced': {'class_balance': 'weights'},
            'edge': {'class_balance': 'weights', 'model': {'edge_pool': True}},
            'fused': {'model_mode': 'multi', 'class_balance': 'weights', 'model': {'edge_pool': True, 'late_fusion': 'ridge'}},
            'chart': {'class_balance': 'weights', 'model': {'edge_pool': True, 'late_fusion': 'ridge'}}}


def features_csv(cfg, folder: Path) -> str:
    "A features CSV of the config's one dataset, computed from its bars (`bars.bar_feature_table`), for multi mode."
    import hashlib
    from tsic.bars import dataset_bars, bar_feature_table
    from tsic.config import atomic_write_bytes
    if len(cfg.datasets) != 1: sys.exit(f"multi mode here makes the features of one dataset; the config lists {cfg.datasets}")
    name = cfg.datasets[0]
    key = hashlib.sha1(repr(cfg.build).encode()).hexdigest()[:10]  # other build options: another file
    path = folder / f'{name}_features_{key}.csv'
    if not path.exists():
        bars, _, _ = dataset_bars(name, cfg.build)
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, bar_feature_table(bars, name).to_csv(index=False).encode())
    return str(path)


def config_for(data: str, variant: str, scratch: Path, threads: int | None = None, extra: dict | None = None):
    from tsic.config import load_config
    overrides = dict(VARIANTS[variant], tensorboard=False, **({'num_threads': threads} if threads else {}), **(extra or {}))
    cfg = load_config(ROOT / CONFIGS[data], **overrides)
    if cfg.model_mode == 'multi' and not cfg.timeseries.data_path:  # no features CSV: one from its bars, the demo's columns
        columns = cfg.timeseries.feature_columns or load_config(ROOT / CONFIGS['demo']).timeseries.feature_columns
        print(f"{data}: no features CSV in {CONFIGS[data]}; multi mode reads {list(columns)} computed from its bars", flush=True)
        cfg = load_config(ROOT / CONFIGS[data], **overrides, timeseries={**cfg.timeseries.__dict__, 'data_path': features_csv(cfg, scratch),
                                                                         'feature_columns': list(columns)})
    return cfg


def agreement(run_dir: Path) -> float:
    "Share of the pooled test windows where the model predicts what persistence predicts (`test_predictions.csv`)."
    p = pd.read_csv(run_dir / 'test_predictions.csv')
    return float((p.model == p.persistence).mean())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--data', nargs='+', default=['demo', 'spy'], choices=list(CONFIGS))
    ap.add_argument('--variants', nargs='+', default=['base', 'multi'], choices=list(VARIANTS))
    ap.add_argument('--folds', type=int, default=4)
    ap.add_argument('--sample-limit', type=int, default=None, help='at most N windows per split and fold (the runs in nbs/guide_markets.ipynb: SPY with 1500, the demo with none)')
    ap.add_argument('--runs', default='runs/market_candidates', help='where the walk-forward run folders go')
    ap.add_argument('--out', help='write the table to OUT.md and OUT.csv')
    ap.add_argument('--threads', type=int, help='torch CPU threads (config num_threads; default: one per core)')
    ap.add_argument('--threshold', action='store_true', help='backtest_threshold: also trade the calls above a probability threshold fitted on validation')
    ap.add_argument('--quick', action='store_true', help='see the usage above')
    a = ap.parse_args()
    quick = {}
    if a.quick:
        import tempfile
        a.data, a.variants, a.folds, a.sample_limit, a.runs = ['demo'], ['base', 'multi'], 2, 40, tempfile.mkdtemp()
        quick = {'max_epochs': 1, 'image_size': 32, 'model_architecture_name': 'resnet18', 'pretrained': False}
    warnings.filterwarnings('ignore')
    import os; os.chdir(ROOT)  # the configs' data paths are relative to the repository root
    from tsic.walkforward import walk_forward
    rows, trades = [], []
    for data in a.data:
        for variant in a.variants:
            run_dir = Path(a.runs) / f'{data}-{variant}'
            cfg = config_for(data, variant, Path(a.runs) / 'features', a.threads, {**quick, **({'backtest_threshold': True} if a.threshold else {})})
            start = time.perf_counter()
            result = walk_forward(cfg, a.folds, run_dir=run_dir, sample_limit=a.sample_limit)
            d = result.differences['persistence']
            rows.append({'data': data, 'variant': variant, 'model': result.pooled['model']['macro_f1'],
                         'model_offsets': result.pooled['model_offsets']['macro_f1'], 'model_stacked': result.pooled['model_stacked']['macro_f1'],
                         'persistence': result.pooled['persistence']['macro_f1'], 'majority': result.pooled['majority']['macro_f1'],
                         'folds_won': f"{result.folds_won()} of {len(result.folds)}",
                         'fold_f1': ' '.join(f'{v:.3f}' for v in result.folds.model_macro_f1),
                         'best_epochs': ' '.join(str(int(e)) for e in result.folds.best_epoch),
                         'minus_persistence': d['difference'], 'ci_low': d['low'], 'ci_high': d['high'],
                         'agrees_with_persistence': agreement(run_dir), 'minutes': (time.perf_counter() - start) / 60})
            print(json.dumps(rows[-1]), flush=True)
            if result.backtest is not None:
                pooled = result.backtest[result.backtest.fold.astype(str) == 'pooled']
                fitted = result.backtest[(result.backtest.predictor == 'model_threshold') & (result.backtest.fold.astype(str) != 'pooled')]
                thresholds = ' '.join(f'{t:.3f}' for t in fitted.get('threshold', []))  # each fold's, fitted on its validation rows
                trades.append(pooled.assign(data=data, variant=variant, thresholds=np.where(pooled.predictor == 'model_threshold', thresholds, '')))
    table = pd.DataFrame(rows)
    print(table.round(3).to_string(index=False))
    if a.out:
        table.to_csv(f'{a.out}.csv', index=False)
        lines = ['| data | variant | model (pooled) | with decision offsets | stacked with the lagged label | persistence | majority | '
                 'model − persistence (95% CI) | folds won | fold F1 | best epochs | agrees with persistence | minutes |', '|' + '---|' * 13]
        lines += [f"| {r.data} | {r.variant} | {r.model:.3f} | {r.model_offsets:.3f} | {r.model_stacked:.3f} | {r.persistence:.3f} | {r.majority:.3f} | "
                  f"{r.minus_persistence:+.3f} ({r.ci_low:+.3f} to {r.ci_high:+.3f}) | {r.folds_won} | {r.fold_f1} | "
                  f"{r.best_epochs} | {r.agrees_with_persistence:.0%} | {r.minutes:.1f} |" for r in table.itertuples()]
        Path(f'{a.out}.md').write_text('\n'.join(lines) + '\n')
        if trades: write_backtest(pd.concat(trades, ignore_index=True), a.out)


def write_backtest(trades: pd.DataFrame, out: str):
    "The pooled walk-forward backtest of every run (model, persistence, always long, flat): OUT_backtest.csv and .md."
    trades.to_csv(f'{out}_backtest.csv', index=False)
    lines = ['| data | variant | predictor | total return | Sharpe (95% CI) | max drawdown | turnover / year | hit rate | positions |', '|' + '---|' * 9]
    lines += [f"| {r.data} | {r.variant} | {r.predictor}" + (f" (thresholds {r.thresholds})" if getattr(r, 'thresholds', '') else '') + f" | {r.total_return:+.1%} | {r.sharpe:+.2f} ({r.sharpe_low:+.2f} to {r.sharpe_high:+.2f}) | "
              f"{r.max_drawdown:.1%} | {r.turnover:.0f} | " + ('–' if np.isnan(r.hit_rate) else f"{r.hit_rate:.1%}") + f" | {r.positions} |"
              for r in trades.itertuples()]
    Path(f'{out}_backtest.md').write_text('\n'.join(lines) + '\n')


if __name__ == '__main__':
    main()
