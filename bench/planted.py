"""Market signals planted at a known strength: does the chart model (and the multi-modal model) learn what its input holds?

    python bench/planted.py [--signals momentum reversal squeeze none] [--models single multi] [--out bench/results/planted]
    python bench/planted.py --quick        # a small, fast run of every step (the slow test runs it)

For each signal, seeded synthetic hourly OHLCV bars (nothing downloaded) are written to a CSV, built with `tsic build`
(40-bar candlestick charts, labels from the next 4 bars' volatility-scaled return, the `zscore` rule: down / flat /
up at the standard normal terciles) and run through `nbs/walk_forward.ipynb` with papermill (4 expanding folds,
purged), in single mode (the chart alone) and in multi mode (the chart beside the numeric window of the builder's 7
causal bar features), on the recipe of `configs/demo.yaml`. Beside the model, on the same pooled test windows:

- the causal baselines of the report (the training split's majority class; persistence, the label of the latest
  window whose horizon has ended when the chart ends) and reversal, persistence mirrored (down and up swapped): a
  trader's two simplest rules, both computable at the chart's last bar;
- the oracle: the rule that knows how the bars were made (for the autoregressive signals, the sign and size of the
  expected next 4 bars given the past; for the squeeze, the direction of a breakout that follows a squeeze in the
  chart's last third), a ceiling the causal rules do not reach.

The signals (`planted_returns`), each with the same noise:
1. momentum: each return adds `PHI` × the sum of the previous 4 returns, so the next 4 bars continue the last 4
   (persistence scores about 0.40 macro F1);
2. reversal: the same with −`PHI`: the next 4 bars reverse the last 4 (persistence below chance, its mirror above);
3. squeeze: now and then a volatility squeeze (8 quiet bars) ends in a breakout bar, after which the price drifts the
   breakout's way for 16 bars; as many breakouts without a squeeze and squeezes without a breakout drift nowhere, so
   neither a large return nor a quiet spell alone tells the future: only the shape does;
4. none: a random walk; every rule scores chance (about 0.33), and a model must not collapse below it.

The model is scored three ways (`CALLS`, the walk-forward's): its own calls (the most probable class); `model_offsets`,
the same probabilities with per-class decision offsets fitted for macro F1 on each fold's validation windows (what
`papermill nbs/evaluate.ipynb ... -p store_thresholds True` and then `tsic predict --thresholds` give a user); and
`model_stacked`, the model stacked with the lagged label, the label persistence predicts (`metrics.fit_stacking`, which
training runs and keeps in the checkpoint: the rule learned on each fold's training windows, blended with the model at
the share its validation windows choose, then offsets; what `tsic predict --stacked` gives a user).

`--rescore` scores the walk-forward runs a previous run kept under `--work` again from their folds' best checkpoints,
with the code as it is now and without training: every call of the table (the model's own, with offsets, stacked)
through the functions the walk-forward and training use (`walkforward.offset_calls`, `metrics.fit_stacking`), so a change to
how calls are made is measured on the same networks in minutes. The model's own calls come out as the run made them.

Goal (issue 26): pooled test macro F1 of each model at least the best causal rule minus 0.02 on signals 1-3, and
at least 0.32 on signal 4. Results: OUT.md and OUT.csv.
"""
import argparse, json, subprocess, sys, time
from pathlib import Path
import numpy as np, pandas as pd, yaml
from tsic.metrics import block_bootstrap_difference

ROOT = Path(__file__).resolve().parents[1]
SIGNALS = ('momentum', 'reversal', 'squeeze', 'none')
WINDOW, HORIZON = 40, 4
PHI = 0.09          # the autoregressive signals' coefficient on the sum of the previous HORIZON returns
SIGMA = 0.004       # the noise of one hourly log return
SQUEEZE, DRIFT_BARS, DRIFT, BREAKOUT, GAP = 8, 8, 1.0, 0.8, (16, 25)  # quiet bars; bars and size (in SIGMA) of the drift; breakout size (in SIGMA); bars between patterns
CLASSES = ['down', 'flat', 'up']
CALLS = ('model', 'model_offsets', 'model_stacked')  # the model's calls the walk-forward reports


def planted_returns(signal: str, n: int, seed: int) -> tuple[np.ndarray, pd.DataFrame]:
    "Log returns of `n` bars with `signal` planted, and the squeeze events (bar of the breakout, direction; empty for the others)."
    rng = np.random.default_rng(seed)
    noise = SIGMA * rng.standard_normal(n)
    events = pd.DataFrame({'bar': pd.Series(dtype=int), 'direction': pd.Series(dtype=int)})
    if signal in ('momentum', 'reversal'):
        phi, r = (PHI if signal == 'momentum' else -PHI), np.zeros(n)
        for t in range(n): r[t] = phi * r[max(0, t - HORIZON):t].sum() + noise[t]
        return r, events
    if signal == 'none': return noise, events
    if signal != 'squeeze': raise ValueError(f"signal must be one of {SIGNALS}, got {signal!r}")
    r, scale, bars, kinds = noise.copy(), np.ones(n), [], []
    t = WINDOW + SQUEEZE
    while t < n - DRIFT_BARS - 1:  # a pattern every 20-40 bars: half true events, a quarter breakouts alone, a quarter squeezes alone
        bars.append(t); kinds.append(int(rng.choice([0, 0, 1, 2]))); t += int(rng.integers(*GAP))
    rows = []
    for bar, kind in zip(bars, kinds):
        direction = int(rng.choice([-1, 1]))
        if kind in (0, 2): scale[bar - SQUEEZE:bar] = 0.25                  # the squeeze
        if kind in (0, 1): r[bar] = direction * BREAKOUT * SIGMA + 0.3 * noise[bar]  # the breakout
        if kind == 0:
            r[bar + 1:bar + 1 + DRIFT_BARS] += direction * DRIFT * SIGMA      # only after both: the drift
            rows.append({'bar': bar, 'direction': direction})
    r = np.where(scale < 1, noise * scale, r)
    return r, pd.DataFrame(rows, columns=['bar', 'direction']) if rows else events


def planted_bars(returns: np.ndarray, seed: int, start: str = '2020-01-01') -> pd.DataFrame:
    "Hourly OHLCV bars whose closes follow `returns` (opens at the previous close, wicks and volume drawn at random)."
    rng = np.random.default_rng(seed + 1)
    close = 100 * np.exp(np.cumsum(returns))
    open_ = np.concatenate([[100.0], close[:-1]])
    wick = np.abs(rng.normal(0, SIGMA / 2, (2, len(close)))) * close
    return pd.DataFrame({'timestamp': pd.date_range(start, periods=len(close), freq='h'), 'open': open_,
                         'high': np.maximum(open_, close) + wick[0], 'low': np.minimum(open_, close) - wick[1], 'close': close,
                         'volume': rng.lognormal(10, 0.3, len(close)).round()})


def expected_forward(returns: np.ndarray, signal: str) -> np.ndarray:
    "For the autoregressive signals: at each bar, the expected sum of the next HORIZON returns given every return so far."
    phi = PHI if signal == 'momentum' else -PHI
    out = np.zeros(len(returns))
    for t in range(len(returns)):
        path = list(returns[max(0, t + 1 - HORIZON):t + 1])
        for _ in range(HORIZON): path.append(phi * sum(path[-HORIZON:]))  # each next return's expectation, noise at zero
        out[t] = sum(path[-HORIZON:])
    return out


def oracle_predictions(signal: str, returns: np.ndarray, events: pd.DataFrame, ends: np.ndarray, labels: np.ndarray,
                       persistence: np.ndarray) -> np.ndarray | None:
    "The rule that knows the mechanism, for the windows ending at bars `ends` whose labels are `labels` (class indices); None for the random walk."
    if signal == 'none': return None
    if signal == 'squeeze':  # the drift's direction where a breakout after a squeeze drives the next bars; elsewhere persistence
        pred = persistence.copy()
        for bar, d in events.itertuples(index=False):
            pred[(ends >= bar) & (ends + HORIZON // 2 < bar + DRIFT_BARS)] = 2 if d > 0 else 0  # most of the horizon inside the drift
        return pred
    sigma = pd.Series(returns).rolling(WINDOW - 1).std().to_numpy()  # the labels' scale: the window's own volatility
    score = expected_forward(returns, signal)[ends] / sigma[ends]
    # cut points at which the oracle predicts each class as often as it occurs (it knows the mechanism: no need to be causal)
    low, high = np.quantile(score, np.cumsum(np.bincount(labels, minlength=3) / len(labels))[:2])
    return np.where(score < low, 0, np.where(score > high, 2, 1))


def macro_f1(y, p) -> float:
    from sklearn.metrics import f1_score
    return float(f1_score(y, p, labels=[0, 1, 2], average='macro', zero_division=0))


def run(cmd: list[str], log: Path):
    "Run `cmd`, its output appended to `log`; on failure, exit with the command and the log's tail."
    with open(log, 'a') as f:
        f.write(f"\n$ {' '.join(cmd)}\n"); f.flush()
        done = subprocess.run(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT)
    if done.returncode:
        sys.exit(f"failed ({done.returncode}): {' '.join(cmd)}\n" + ''.join(log.read_text().splitlines(True)[-30:]))


def build(signal: str, a, work: Path) -> tuple[Path, np.ndarray, pd.DataFrame, pd.DataFrame]:
    "The bars of `signal` written and built with `tsic build`: the config file for the walk-forward, the returns, the events and the bars."
    returns, events = planted_returns(signal, a.bars, a.seed)
    bars = planted_bars(returns, a.seed)
    work.mkdir(parents=True, exist_ok=True)
    bars.to_csv(work / f'{signal}.csv', index=False)
    data = work / 'data'
    run([str(Path(sys.executable).parent / 'tsic'), 'build', str(work / f'{signal}.csv'), '--dataset', signal, '--data-dir', str(data),
         '--image-size', str(a.image_size), '--window', str(WINDOW), '--horizon', str(HORIZON), '--label-rule', 'zscore',
         '--scaling', a.scaling, '--rebuild'], work / 'log.txt')
    demo = yaml.safe_load((ROOT / 'configs' / 'demo.yaml').read_text())
    config = {**demo, 'datasets': [signal], 'data_dir': str(data), f'dataset_{signal}_dir': str(data / f'{signal}_1h_winsize{WINDOW}'),
              'image_size': a.image_size, 'check_data': False, 'tensorboard': False, 'cache_dir': str(work / 'cache'),
              'timeseries': {**demo['timeseries'], 'data_path': str(data / f'{signal}_1h_features.csv')}, **a.override}
    path = work / 'config.yaml'
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path, returns, events, bars


def walk_forward(config: Path, model: str, a, run_dir: Path) -> dict:
    "papermill's run of nbs/walk_forward.ipynb on `config` in `model` mode: the report's walk_forward.json and test_predictions.csv."
    params = ['-p', 'config', str(config), '-p', 'folds', str(a.folds), '-p', 'run_dir', str(run_dir), '-p', 'model_mode', model]
    if a.sample_limit: params += ['-p', 'sample_limit', str(a.sample_limit)]
    run([str(Path(sys.executable).parent / 'papermill'), 'nbs/walk_forward.ipynb', str(run_dir.parent / f'{model}.ipynb'), *params,
         '--log-output', '--no-progress-bar'], run_dir.parent / 'log.txt')
    return json.loads((run_dir / 'walk_forward.json').read_text()), pd.read_csv(run_dir / 'test_predictions.csv', parse_dates=['timestamp'])


def rescore(config: Path, model: str, run_dir: Path, sample_limit: int | None) -> tuple[dict, pd.DataFrame]:
    "The kept walk-forward run in `run_dir` scored again from its folds' best checkpoints (`--rescore`): its report and its test predictions with every call made now."
    from tsic.config import load_config
    from tsic.sources import load_data
    from tsic.predict import Predictor
    from tsic.walkforward import offset_calls
    from tsic.metrics import fit_stacking
    from tsic.checkpoint import Stacking
    from tsic.train import can_stack, stacking_calls
    report = json.loads((run_dir / 'walk_forward.json').read_text())
    tested = pd.read_csv(run_dir / 'test_predictions.csv', parse_dates=['timestamp'])
    cfg = load_config(config, model_mode=model)  # as nbs/walk_forward.ipynb loads it
    data, names = load_data(cfg), np.asarray(CLASSES)
    for k in range(report['folds']):
        fold = data.fold(k, report['folds'], report['purge'], cfg.val_fraction, report['mode']).limit(sample_limit)
        p = Predictor.from_checkpoint(json.loads((run_dir / f'fold{k}' / 'metrics.json').read_text())['best_checkpoint'])
        val, test = fold.rows('val'), fold.rows('test')
        mine = (tested.fold == k).to_numpy()
        if not np.array_equal(tested.timestamp[mine].to_numpy(), test.timestamp.to_numpy()):
            sys.exit(f"{run_dir}: fold {k}'s test windows are not the ones the run tested; rerun bench/planted.py without --rescore")
        scored = {'val': (val, p.score_data(fold, val)), 'test': (test, p.score_data(fold, test))}
        train, own = fold.original_training_rows(), scored['test'][1].argmax(1)
        stacked = own  # training's rule: the model's own calls where a split lacks a class (`train.can_stack` warns)
        if can_stack(fold):
            s = Stacking(**fit_stacking(train.persistence_label, train.label, scored['val'][1], val.persistence_label, val.label, len(CLASSES)))
            stacked = stacking_calls(s, scored['test'][1], test.persistence_label)
        calls = {'model': own, 'model_offsets': offset_calls(scored, CLASSES)[1], 'model_stacked': stacked}
        for name, c in calls.items(): tested.loc[mine, name] = names[c]
    return report, tested


def score_signal(signal: str, model: str, report: dict, tested: pd.DataFrame, returns, events, bars: pd.DataFrame) -> dict:
    "One row of the table: the model, the causal rules and the oracle on the pooled test windows."
    idx = {c: i for i, c in enumerate(CLASSES)}
    y = tested.label.map(idx).to_numpy()
    preds = {name: tested[name].map(idx).to_numpy() for name in (*CALLS, 'majority', 'persistence')}
    preds['reversal'] = 2 - preds['persistence']  # down <-> up, flat stays
    oracle = oracle_predictions(signal, returns, events, pd.Index(bars.timestamp).get_indexer(tested.timestamp), y, preds['persistence'])
    scores = {name: macro_f1(y, p) for name, p in preds.items()}
    causal = max(('majority', 'persistence', 'reversal'), key=scores.get)
    goal = scores[causal] - 0.02 if signal != 'none' else 0.32
    # the walk-forward's own interval (blocks of window + horizon test windows), against the best causal rule
    versus = {name: block_bootstrap_difference(y, preds[name], preds[causal], 3, WINDOW + HORIZON) for name in CALLS}
    return {'signal': signal, 'model_mode': model, **{name: scores[name] for name in CALLS}, 'majority': scores['majority'],
            'persistence': scores['persistence'], 'reversal': scores['reversal'], 'oracle': macro_f1(y, oracle) if oracle is not None else np.nan,
            **{f'{name}_minus_rule{end}': d[key] for name, d in versus.items() for end, key in (('', 'difference'), ('_low', 'low'), ('_high', 'high'))},
            'best_causal_rule': causal, 'goal': goal, **{f'met_{name}': scores[name] >= goal for name in CALLS}, 'windows': len(y),
            'fold_f1': ' '.join(f"{f['model_macro_f1']:.3f}" for f in report['per_fold']),
            'best_epochs': ' '.join(str(f['best_epoch']) for f in report['per_fold']),
            'agrees_with_persistence': float((preds['model'] == preds['persistence']).mean()),
            'predicted_shares': ' '.join(f"{(preds['model'] == k).mean():.2f}" for k in range(3)),
            'stacked_agrees_with_persistence': float((preds['model_stacked'] == preds['persistence']).mean())}


def show_row(row: dict):
    print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}, default=str), flush=True)


def save_table(table: pd.DataFrame, text: str, out: str | None):
    "Print `text` (the table as markdown); with `out`, write OUT.csv and OUT.md."
    print('\n' + text)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(f'{out}.csv', index=False); Path(f'{out}.md').write_text(text)


def markdown(table: pd.DataFrame) -> str:
    lines = ['| signal | model | model (pooled macro F1) | with offsets | stacked with the lagged label | persistence | reversal | majority | oracle | '
             'goal (best causal rule) | met: model / offsets / stacked | model − best rule (95% CI) | with offsets | stacked | fold F1 | '
             'best epochs | predicted down/flat/up | stacked agrees with persistence | minutes |', '|' + '---|' * 19]
    versus = lambda r, name: f"{getattr(r, name + '_minus_rule'):+.3f} ({getattr(r, name + '_minus_rule_low'):+.3f} to {getattr(r, name + '_minus_rule_high'):+.3f})"
    met = lambda ok: 'yes' if ok else '**no**'
    for r in table.itertuples():
        goal = f"{r.goal:.3f} ({r.best_causal_rule} − 0.02)" if r.signal != 'none' else '0.320 (chance)'
        lines.append(f"| {r.signal} | {r.model_mode} | " + ' | '.join(f"**{getattr(r, name):.3f}**" for name in CALLS) + f" | {r.persistence:.3f} | "
                     f"{r.reversal:.3f} | {r.majority:.3f} | " + ('–' if np.isnan(r.oracle) else f"{r.oracle:.3f}") + f" | {goal} | "
                     + ' / '.join(met(getattr(r, f'met_{name}')) for name in CALLS) + ' | ' + ' | '.join(versus(r, name) for name in CALLS)
                     + f" | {r.fold_f1} | {r.best_epochs} | {r.predicted_shares} | {r.stacked_agrees_with_persistence:.0%} | "
                     + ('–' if np.isnan(r.minutes) else f"{r.minutes:.1f}") + " |")
    return '\n'.join(lines) + '\n'


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--signals', nargs='+', default=list(SIGNALS), choices=SIGNALS)
    p.add_argument('--models', nargs='+', default=['single', 'multi'], choices=('single', 'multi'))
    p.add_argument('--bars', type=int, default=6000, help='hourly bars per signal')
    p.add_argument('--folds', type=int, default=4)
    p.add_argument('--image-size', type=int, default=96, help="the charts' size (configs/demo.yaml's)")
    p.add_argument('--seed', type=int, default=0, help='the bars\' seed (the training seed is the config\'s)')
    p.add_argument('--scaling', default='window', choices=('window', 'fixed', 'volatility'), help="the charts' price scaling (tsic build --scaling)")
    p.add_argument('--sample-limit', type=int, help='at most N windows per split and fold (quick runs)')
    p.add_argument('--set', dest='override', action='append', default=[], metavar='KEY=VALUE',
                   help='a top-level config key over configs/demo.yaml (YAML value), e.g. --set class_balance=weights')
    p.add_argument('--work', default='runs/planted', help='bars, builds and walk-forward runs go here')
    p.add_argument('--out', help='write the table to OUT.md and OUT.csv')
    p.add_argument('--quick', action='store_true', help='1,500 bars, 2 folds, 48-px charts, 1 epoch: every step, fast')
    p.add_argument('--rescore', action='store_true', help="score the runs kept under --work again, without training (see above)")
    return p


def main(argv=None) -> pd.DataFrame:
    a = parser().parse_args(argv)
    overrides = {}
    for item in a.override:
        key, sep, value = item.partition('=')
        if not sep: parser().error(f"--set takes KEY=VALUE, got {item!r}")
        overrides[key] = yaml.safe_load(value)
    if a.quick:
        a.bars, a.folds, a.image_size = 1500, 2, 48
        overrides = {'max_epochs': 1, 'model_architecture_name': 'resnet18', 'pretrained': False, 'batch_size': 32,
                     'use_progressive_unfreezing': False, **overrides}
    a.override = overrides
    rows = []
    for signal in a.signals:
        work = (ROOT / a.work / signal).resolve()
        if a.rescore:
            returns, events = planted_returns(signal, a.bars, a.seed)
            bars = planted_bars(returns, a.seed)
        else: config, returns, events, bars = build(signal, a, work)
        for model in a.models:
            start = time.perf_counter()
            report, tested = rescore(work / 'config.yaml', model, work / f'wf-{model}', a.sample_limit) if a.rescore else walk_forward(config, model, a, work / f'wf-{model}')
            minutes = np.nan if a.rescore else (time.perf_counter() - start) / 60  # rescoring times nothing the table means
            rows.append({**score_signal(signal, model, report, tested, returns, events, bars), 'minutes': minutes})
            show_row(rows[-1])
    table = pd.DataFrame(rows)
    save_table(table, markdown(table), a.out)
    return table


if __name__ == '__main__':
    main()
