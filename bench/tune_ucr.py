"""Issue 16's UCR measurement: the UCR recipe (bench/ucr.py) tuned by an Optuna study against it untuned, on the
archive's test split, beside MiniRocket and the published accuracies.

    python bench/tune_ucr.py ArrowHead ItalyPowerDemand [--n-trials 8] [--seeds 0 1 2] [--out bench/results/tune_ucr]
    python bench/tune_ucr.py my.npz --recipe "--epochs 20 --size 64"     # bench/ucr.py's recipe options
    python bench/tune_ucr.py --quick    # a check that it runs: Trace, 2 trials, one seed, bench/ucr.py's quick recipe

Per dataset:
1. The study: a stratified validation carve of the training series (`--val-fraction`, seed 0; augmented copies only
   of the series left for training), each trial the recipe's own schedule for that smaller training set, objective the
   trial's best validation macro F1 (`tsic.tune.tune`), the median pruner, trial 0 the recipe's own values
   (`tuning.start_from_config`). The space (`SPACE`) is centred on the recipe, whose backbone rate (a quarter of the
   head's 1e-2) lies above the default space's range. Every trial also scores the test series (a user attribute of
   the trial, as in any tsic study), which neither the sampler nor the choice of the best trial reads.
2. The test: the recipe untuned and the recipe with the study's best values, each trained on all the training series
   with the fixed schedule and scored once on the test split, for each seed.
The study lives in WORK/study.db, one study per dataset: rerun the command and it continues.
"""
import argparse, json, shlex, sys, warnings
from pathlib import Path
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ucr  # noqa: E402  (the recipe and the data: bench/ucr.py)

SPACE = {'lr_head': {'low': 1e-3, 'high': 3e-2, 'log': True}, 'lr_backbone': {'low': 1e-4, 'high': 1e-2, 'log': True},
         'lr_decay_rate': {'low': 0.3, 'high': 1.0}, 'weight_decay': {'low': 1e-4, 'high': 0.1, 'log': True},
         'model.drop_path_rate': {'low': 0.0, 'high': 0.3}}


def study_for(name: str, X_train, y_train, X_test, y_test, a, recipe):
    "The study of dataset `name` on the validation carve (run, joined or continued), and its trials table."
    from tsic.tune import tune, trials_table
    data, mode = ucr.recipe_data(X_train, y_train, X_test, y_test, name, 0, recipe, val_fraction=a.val_fraction)
    epochs = ucr.schedule_epochs(len(data.rows('train')), recipe.batch_size) if recipe.epochs == 'auto' else int(recipe.epochs)
    cfg = ucr.recipe_config(data, mode, name, 0, recipe, tuning={'n_trials': a.n_trials, 'max_epochs': epochs, 'pruner': 'median', 'space': SPACE})
    work = Path(a.work)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        study = tune(cfg, work / 'study.db', f'{name}-{a.study_suffix}', data=data, root=work / f'{name}-{a.study_suffix}')
    return study, trials_table(study), {'val_series': int((data.samples.split == 'val').sum()), 'trial_epochs': cfg.max_epochs}


def recipe_options(name: str, a):
    "bench/ucr.py's parsed recipe options for `name`: its defaults, `--threads` and `--recipe`; checked as ucr.py checks them."
    recipe = ucr.parser().parse_args([name, '--threads', str(a.threads), *shlex.split(a.recipe)])
    ucr.check_recipe(recipe)
    if recipe.second == 'rocket': ucr.parser().error("--second rocket: the features need every training series copied alike, which the carve breaks")
    return recipe


def bench(name: str, a, log=print) -> dict:
    "One row: the study's summary, and test accuracy untuned / tuned per seed, with MiniRocket and the published figures."
    X_train, y_train, X_test, y_test = ucr.load_ucr(name)
    name = Path(name).stem  # an .npz file: its name
    recipe = recipe_options(name, a)
    study, table, carve = study_for(name, X_train, y_train, X_test, y_test, a, recipe)
    best = study.best_trial
    own = [t.value for t in study.trials if t.user_attrs.get('from_config') and t.value is not None]  # trial 0, or its retry
    log(table.round(4).to_string(index=False))
    log(f"{name}: best trial {best.number} (validation macro F1 {best.value:.3f}; the recipe's own values: {own[0] if own else 'not scored'})")
    untuned, tuned, rocket = [], [], []
    for seed in a.seeds:
        u = ucr.tsic_run(X_train, y_train, X_test, y_test, name, seed, recipe)
        # when the best trial is the recipe itself, training it again would only repeat the untuned run
        t = u if best.user_attrs.get('from_config') else ucr.tsic_run(X_train, y_train, X_test, y_test, name, seed, recipe, params=best.params)
        m = ucr.minirocket(X_train, y_train, X_test, y_test, seed)
        log(f"  seed {seed}: untuned {u['accuracy']:.3f}  tuned {t['accuracy']:.3f}  MiniRocket {m['accuracy']:.3f}  ({t['seconds']:.0f} s per tuned run)")
        untuned.append(u['accuracy']); tuned.append(t['accuracy']); rocket.append(m['accuracy'])
    return {'dataset': name, 'trials': len(table), **{s: int((table.state == s).sum()) for s in ('complete', 'pruned', 'fail')},
            'study_minutes': round(table.seconds.sum() / 60, 1), **carve, 'best_trial': best.number, 'best_is_recipe': bool(best.user_attrs.get('from_config')),
            'recipe_val_f1': own[0] if own else None, 'best_val_f1': best.value, 'best_params': best.params,
            'untuned_seeds': untuned, 'tuned_seeds': tuned, 'untuned_mean': float(np.mean(untuned)), 'tuned_mean': float(np.mean(tuned)),
            'minirocket_mean': float(np.mean(rocket)), **ucr.published(name)}


def markdown(rows: list[dict]) -> str:
    head = ("| dataset | trials (complete / pruned / failed) | validation series | validation F1: recipe → best | test accuracy untuned "
            "(mean of seeds) | tuned | MiniRocket, same run | ResNet (Fawaz) | ROCKET (published) |\n|---|---|---|---|---|---|---|---|---|\n")
    def opt(r, k): return '–' if r.get(k) is None else f"{r[k]:.3f}"
    return head + ''.join(
        f"| {r['dataset']} | {r['trials']} ({r['complete']} / {r['pruned']} / {r['fail']}; {r['study_minutes']} min) | {r['val_series']} | "
        f"{opt(r, 'recipe_val_f1')} → {r['best_val_f1']:.3f}{' (the recipe)' if r['best_is_recipe'] else ''} | "
        f"{r['untuned_mean']:.3f} ({' '.join(f'{v:.3f}' for v in r['untuned_seeds'])}) | "
        f"{r['tuned_mean']:.3f} ({' '.join(f'{v:.3f}' for v in r['tuned_seeds'])}) | {r['minirocket_mean']:.3f} | "
        f"{opt(r, 'ResNet (Fawaz)')} | {opt(r, 'ROCKET (published)')} |\n" for r in rows)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('datasets', nargs='*', help='UCR/UEA names (bench/ucr.py loads them)')
    p.add_argument('--n-trials', type=int, default=8)
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--val-fraction', type=float, default=0.3, help='the training series carved out to score the trials')
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--recipe', default='', help="bench/ucr.py's recipe options, e.g. \"--epochs 2 --size 32\" (default: its defaults)")
    p.add_argument('--work', default='runs/tune_ucr', help='the study file and the trials')
    p.add_argument('--study-suffix', default='ucr', help='studies are named DATASET-SUFFIX in WORK/study.db')
    p.add_argument('--out', help='write OUT.md and OUT.json')
    p.add_argument('--quick', action='store_true', help="a check that the bench runs: Trace unless named, 2 trials, seed 0, "
                                                        "bench/ucr.py's quick recipe (single mode) unless --recipe is given")
    a = p.parse_args(argv)
    if a.quick:
        a.datasets, a.n_trials, a.seeds = a.datasets or ['Trace'], 2, [0]
        a.recipe = a.recipe or ' '.join([*(q for q in ucr.QUICK if not q.startswith('--seeds')), '--mode', 'single'])
    if not a.datasets: p.error('name a dataset (or --quick)')
    rows = []
    for name in a.datasets:
        rows.append(bench(name, a, log=lambda s: print(s, flush=True)))
        if a.out:
            Path(a.out).parent.mkdir(parents=True, exist_ok=True)
            Path(f'{a.out}.json').write_text(json.dumps(rows, indent=1, default=str))
            Path(f'{a.out}.md').write_text(markdown(rows))
    print('\n' + markdown(rows))
    return rows


if __name__ == '__main__':
    main()
