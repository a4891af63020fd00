"""int8 beside float32 on trained models (issue 28): what `runtime='onnx-int8'` costs in accuracy and gains in speed, in one run.

For each UCR set and network: train the single-mode image recipe of bench/ucr.py (one seed; ResNet-18 from random
weights, EfficientNet-Lite0 from its pretrained weights), then score the test series with ONNX Runtime in float32
(`runtime='onnx'`) and in int8 (`runtime='onnx-int8'`, calibrated on the training series: no test series, no labels),
and time the network alone at batch 1 both ways (p50 over `--calls` calls, after warm-up). Reported per row: test
accuracy both ways, how often the two pick the same class, the largest and the mean change of a probability, the mean
change on the calibration series (what `Predictor.quantized` checks against `INT8_MAX_CHANGE` to refuse a network that
int8 changes: measured here with the check off), p50 both ways. The float32 ONNX scores are checked against the trained learner's own test probabilities first (1e-4).

    python bench/quantize.py [SETS ...] [--archs resnet18 efficientnet_lite0] [--out bench/results/quantize] [--quick]
"""
import argparse, json, sys, tempfile, time, warnings
from pathlib import Path
import numpy as np, pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'bench'))
import ucr  # the UCR recipe: data, config and the sets

SETS = ['GunPoint', 'ArrowHead', 'ItalyPowerDemand', 'Coffee', 'UnitTest', 'BasicMotions']  # ucr.ALL's sets of one length


def p50_ms(fn, calls: int, warmup: int = 10) -> float:
    for _ in range(warmup): fn()
    times = []
    for _ in range(calls):
        t = time.perf_counter(); fn(); times.append(time.perf_counter() - t)
    return float(np.median(times) * 1e3)


def compare(name: str, arch: str, epochs: str, calls: int, log=print) -> dict:
    "Train `arch` on set `name` with the UCR image recipe, then score its test series in float32 and int8: one row."
    from tsic.train import train
    from tsic.predict import Predictor, INT8_MAX_CHANGE
    X_train, y_train, X_test, y_test = ucr.load_ucr(name)
    a = ucr.parse([name, '--mode', 'single', '--arch', arch, '--seeds', '0', '--epochs', epochs] + (['--scratch'] if arch == 'resnet18' else []))
    data, mode = ucr.recipe_data(X_train, y_train, X_test, y_test, name, 0, a)
    cfg = ucr.recipe_config(data, mode, name, 0, a)
    with tempfile.TemporaryDirectory() as d, warnings.catch_warnings():
        warnings.simplefilter('ignore')
        start = time.perf_counter(); result = train(cfg, run_dir=d, data=data); seconds = time.perf_counter() - start
        learned, _ = result.learn.get_preds(ds_idx=2)
        fp32 = Predictor.from_checkpoint(result.best_checkpoint, runtime='onnx')
        int8 = Predictor.from_checkpoint(result.best_checkpoint, runtime='onnx-int8', calibration=X_train, max_change=1.0)  # measured even where tsic refuses it
    labels = data.rows('test').label.to_numpy()
    p32, p8 = fp32.series_probabilities(X_test), int8.series_probabilities(X_test)
    assert np.abs(p32 - learned.numpy()).max() < 1e-4, f"{name}: ONNX float32 differs from the learner's own test probabilities"
    chart = fp32.read_series(X_test[:1]).charts()
    row = {'dataset': name, 'arch': arch, 'image_size': cfg.image_size, 'test_series': len(labels), 'train_seconds': seconds,
           'accuracy_fp32': float((p32.argmax(1) == labels).mean()), 'accuracy_int8': float((p8.argmax(1) == labels).mean()),
           'same_class': float((p32.argmax(1) == p8.argmax(1)).mean()), 'max_abs_prob_change': float(np.abs(p32 - p8).max()),
           'mean_abs_prob_change': float(np.abs(p32 - p8).mean()), 'calibration_change': int8.int8_change,
           'refused_by_default': int8.int8_change > INT8_MAX_CHANGE,
           'p50_ms_fp32': p50_ms(lambda: fp32.probabilities(chart), calls), 'p50_ms_int8': p50_ms(lambda: int8.probabilities(chart), calls)}
    log(f"{name} {arch} ({row['image_size']} px, trained in {seconds:.0f} s): accuracy float32 {row['accuracy_fp32']:.3f}, int8 "
        f"{row['accuracy_int8']:.3f}; same class {row['same_class']:.3f}; probability change max {row['max_abs_prob_change']:.4f}, "
        f"mean {row['mean_abs_prob_change']:.4f}; on the training series {row['calibration_change']:.4f} "
        f"({'refused' if row['refused_by_default'] else 'kept'} by default); network p50 {row['p50_ms_fp32']:.2f} -> {row['p50_ms_int8']:.2f} ms")
    return row


def markdown(table: pd.DataFrame) -> str:
    "`table` as a markdown table, floats to 3 places (4 for probability changes), times to 2."
    def cell(k, v):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (float, np.floating)): return str(v)
        return f"{v:.2f}" if k.startswith('p50') or k.endswith('seconds') else f"{v:.4f}" if 'change' in k else f"{v:.3f}"
    lines = ['| ' + ' | '.join(table.columns) + ' |', '|' + ' --- |' * len(table.columns)]
    lines += ['| ' + ' | '.join(cell(k, v) for k, v in row.items()) + ' |' for row in table.to_dict('records')]
    return '\n'.join(lines) + '\n'


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('sets', nargs='*', default=SETS)
    ap.add_argument('--archs', nargs='+', default=['resnet18', 'efficientnet_lite0'])
    ap.add_argument('--epochs', default='auto', help="bench/ucr.py's --epochs: a number, or 'auto' (the recipe's schedule)")
    ap.add_argument('--calls', type=int, default=300)
    ap.add_argument('--out', help='write OUT.md and OUT.csv')
    ap.add_argument('--quick', action='store_true', help='a check that it runs: Trace, ResNet-18, 2 epochs, 20 calls')
    args = ap.parse_args()
    if args.quick: args.sets, args.archs, args.epochs, args.calls = ['Trace'], ['resnet18'], '2', 20
    table = pd.DataFrame([compare(name, arch, args.epochs, args.calls) for name in args.sets for arch in args.archs])
    for arch, rows in table.groupby('arch', sort=False):
        print(f"{arch}: mean accuracy float32 {rows.accuracy_fp32.mean():.3f}, int8 {rows.accuracy_int8.mean():.3f}; same class "
              f"{rows.same_class.mean():.3f} (lowest {rows.same_class.min():.3f}); network p50 {rows.p50_ms_fp32.median():.2f} -> "
              f"{rows.p50_ms_int8.median():.2f} ms (medians)")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(f'{args.out}.csv', index=False)
        Path(f'{args.out}.md').write_text(markdown(table))
    print(json.dumps(table.to_dict('records')))


if __name__ == '__main__':
    main()
