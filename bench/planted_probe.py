"""What a linear classifier finds in the planted-signal windows (bench/planted.py's bars): the reference for what
the numeric window holds, beside the causal rules, in seconds and without a network.

    python bench/planted_probe.py [--bars 6000] [--seed 0] [--json out.json]
    python bench/planted_probe.py --quick     # a check that it runs: 2,500 bars per signal

For each signal: the bars' causal features (`bars.bar_features`, the multi-modal model's window columns) over the
40-bar windows, standardised with the first 60% of the windows, a ridge classifier with balanced class weights
and alphas chosen by leave-one-out on those windows (`RidgeClassifierCV`), scored (macro F1) on the last 40% after
a purge of window + horizon bars; beside it the same ridge on the charts' profile (`rocket.chart_profile` of the
40-bar candlestick charts at 96 px, price axis scaled by volatility, as bench/planted.py builds them: what the single
chart model's late-fusion head reads); persistence and its mirror on the same test windows.

Two more columns test why a learned model trails the rule where the rule is the mechanism (momentum, reversal):
`rule_learned` fits a multinomial logistic regression on the lagged label alone (the label of the window whose
horizon has just ended, one-hot: the causal rule's only input, six parameters) on the first 45% of the windows and
per-class decision offsets for macro F1 on the next 15% (after a purge); `chart_and_rule` blends a logistic
regression on the chart's profile with that one, the share chosen by validation likelihood, then offsets the same
way. The first shows the rule is learnable from the data with offsets; the second what stacking the causal rule
as an input would give the chart model (the walk-forward's `model_stacked` does this: `metrics.fit_stacking`).
"""
import argparse, sys, warnings
from pathlib import Path
import numpy as np, pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import planted


def chart_profiles(bars: pd.DataFrame, ends: np.ndarray, size: int = 96) -> np.ndarray:
    "`rocket.chart_profile` of the candlestick charts (volatility scaling) of the windows of `bars` ending at `ends`."
    import torch
    from tsic.charts import ChartStyle, render_chart
    from tsic.rocket import chart_profile
    ohlc = bars[['open', 'high', 'low', 'close']].to_numpy()
    out = []
    for part in np.array_split(ends, max(1, len(ends) // 512)):
        windows = np.stack([ohlc[e - planted.WINDOW + 1:e + 1] for e in part])
        charts = render_chart(windows, size, ChartStyle(scaling='volatility'), channels_first=True)
        out.append(chart_profile(torch.from_numpy(charts).float() / 255).numpy())
    return np.concatenate(out)


def standardised(X: np.ndarray, cut: int) -> np.ndarray:
    "`X` with each column standardised on its first `cut` rows (as `rocket.RidgeHead` scales its features)."
    mean, std = X[:cut].mean(0), X[:cut].std(0)
    return (X - mean) / np.where(std > 0, std, 1)


def ridge_f1(X: np.ndarray, y: np.ndarray, cut: int, test: slice) -> float:
    "Macro F1 on `test` of a balanced ridge (alphas by leave-one-out) fitted on the first `cut` rows of `X`."
    from sklearn.linear_model import RidgeClassifierCV
    ridge = RidgeClassifierCV(alphas=np.logspace(-3, 3, 10), class_weight='balanced').fit(X[:cut], y[:cut])
    return planted.macro_f1(y[test], ridge.predict(X[test]))


def rule_columns(profiles: np.ndarray, lagged: np.ndarray, y: np.ndarray, cut: int, test: slice, gap: int) -> dict:
    "Macro F1 on `test` of a logistic regression on the one-hot `lagged` label, and of its blend with one on the chart `profiles` (see the module's text)."
    from sklearn.linear_model import LogisticRegression
    from tsic.metrics import fit_decision_offsets, apply_offsets
    fit_end = int(0.75 * cut); val = slice(fit_end + gap, cut)
    def model(X): return LogisticRegression(C=0.05, class_weight='balanced', max_iter=2000).fit(X[:fit_end], y[:fit_end]).predict_proba(X)
    rule, chart = model(np.eye(3)[lagged]), model(profiles)
    def tuned(P): return planted.macro_f1(y[test], apply_offsets(P[test], fit_decision_offsets(P[val], y[val])[0]))
    def blend(s): P = np.exp((1 - s) * np.log(chart) + s * np.log(rule)); return P / P.sum(1, keepdims=True)
    def nll(s): return -np.log(blend(s)[val][np.arange(len(y[val])), y[val]]).mean()
    share = min(np.linspace(0, 1, 21), key=nll)
    return {'rule_learned': tuned(rule), 'chart_and_rule': tuned(blend(share)), 'rule_share': share}


def probe(signal: str, bars_n: int, seed: int, train_share: float = 0.6) -> dict:
    "Macro F1 of persistence, reversal and a balanced ridge on the window's features and on the charts' profile, on the last windows of `signal`."
    from tsic.bars import bar_features
    from tsic.config import BuildConfig
    from tsic.labels import forward_zscores, three_classes
    returns, _ = planted.planted_returns(signal, bars_n, seed)
    bars = planted.planted_bars(returns, seed).set_index('timestamp')
    w, h, band = planted.WINDOW, planted.HORIZON, BuildConfig().band
    features = bar_features(bars).to_numpy()
    labels = three_classes(forward_zscores(bars.close.to_numpy(), w, h), -band, band)
    ends = np.arange(w + 30, len(bars) - h)  # the features' warm-up behind every window
    ends = ends[(labels[ends] >= 0) & (labels[ends - h] >= 0)]
    X = np.stack([features[e - w + 1:e + 1] for e in ends])
    y, persistence = labels[ends], labels[ends - h]
    cut = int(train_share * len(ends))
    test = slice(cut + w + h, None)  # purged: no test window shares a bar with a training window's horizon
    flat = X[:cut].reshape(-1, X.shape[-1])
    X = ((X - flat.mean(0)) / flat.std(0)).reshape(len(X), -1)
    profiles = standardised(chart_profiles(bars, ends), cut)
    return {'signal': signal, 'ridge_on_window': ridge_f1(X, y, cut, test), 'ridge_on_chart': ridge_f1(profiles, y, cut, test),
            **rule_columns(profiles, persistence, y, cut, test, w + h),
            'persistence': planted.macro_f1(y[test], persistence[test]), 'reversal': planted.macro_f1(y[test], 2 - persistence[test]),
            'train_windows': cut, 'test_windows': len(y[test])}


def main(argv=None) -> pd.DataFrame:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--bars', type=int, default=6000)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--json', help='write the table here as JSON records')
    p.add_argument('--quick', action='store_true', help='a check that the bench runs: 2,500 bars per signal')
    a = p.parse_args(argv)
    warnings.simplefilter('ignore')
    table = pd.DataFrame([probe(s, 2500 if a.quick else a.bars, a.seed) for s in planted.SIGNALS])
    print(table.round(3).to_string(index=False))
    if a.json: Path(a.json).write_text(table.to_json(orient='records', indent=1))
    return table


if __name__ == '__main__':
    main()
