"""Issue 16's measurement: an Optuna study of the demo's classifier beside the untuned demo config, on the same split.

    python bench/tune_demo.py [--n-trials 20] [--out bench/results/tune_demo] [--quick]

The study lives in WORK/study.db under --study-name: rerun the same command after a stop and it continues (a trial
cut short is retried); --untuned DIR reuses an earlier untuned run folder instead of training it again.

The untuned run is `configs/demo.yaml` as it is; the study searches its default space (`tuning.space`: learning
rates, their decay, weight decay, stochastic depth), each trial with the demo's own epochs (`tuning.max_epochs` =
`max_epochs`) and the median pruner. Reported: trials complete / pruned / failed, wall time, the best validation macro
F1 against the untuned run's, and the best trial's test macro F1 against the untuned run's and the causal baselines'
(persistence, majority) on the same test split.
"""
import argparse, json, sys, time, warnings
from pathlib import Path
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--n-trials', type=int, default=20)
    p.add_argument('--sample-limit', type=int, default=None, help='at most N images per split (the run in nbs/guide_analysis.ipynb uses none)')
    p.add_argument('--work', default='runs/tune_demo', help='run folders and the study file')
    p.add_argument('--study-name', default='demo', help='the study in WORK/study.db to run or continue')
    p.add_argument('--timeout', type=float, default=None, help='seconds after which no new trial starts (tuning.timeout); rerun to continue')
    p.add_argument('--untuned', help="an earlier untuned run folder (its metrics.json) instead of a new untuned run")
    p.add_argument('--out', help='write OUT.md and OUT.json')
    p.add_argument('--quick', action='store_true', help='2 trials of 1 epoch at 64 px on 40 charts per split, in a scratch folder: a check that the bench runs')
    a = p.parse_args(argv)
    warnings.filterwarnings('ignore')
    import os; os.chdir(ROOT)
    from tsic.config import load_config
    from tsic.sources import load_data
    from tsic.train import train
    from tsic.tune import tune, trials_table
    quick = dict(max_epochs=1, image_size=64) if a.quick else {}
    if a.quick:
        import tempfile
        a.n_trials, a.sample_limit, a.work = 2, 40, tempfile.mkdtemp()
    cfg = load_config('configs/demo.yaml', tensorboard=False, **quick)
    cfg = load_config('configs/demo.yaml', tensorboard=False, **quick, tuning={'n_trials': a.n_trials, 'max_epochs': cfg.max_epochs, 'timeout': a.timeout})
    work = Path(a.work)
    data = load_data(cfg, a.sample_limit)
    if a.untuned: untuned = json.loads((Path(a.untuned) / 'metrics.json').read_text())
    else: untuned = json.loads((train(cfg, run_dir=work / f'untuned-{time.strftime("%Y%m%d-%H%M%S")}', data=data).run_dir / 'metrics.json').read_text())
    study = tune(cfg, work / 'study.db', a.study_name, data=data, root=work / 'trials')
    table = trials_table(study)
    best = study.best_trial
    metrics = json.loads((Path(best.user_attrs['run_dir']) / 'metrics.json').read_text())
    row = {'trials': len(table), **{f'{s}': int((table.state == s).sum()) for s in ('complete', 'pruned', 'fail')},
           'trial_minutes': [round(v / 60, 1) for v in table.seconds.dropna()],
           'untuned_val_f1': max(e['f1_score'] for e in untuned['epochs']), 'tuned_val_f1': best.value,
           'untuned_test_f1': untuned['test']['macro_f1'], 'tuned_test_f1': metrics['test']['macro_f1'],
           'persistence_test_f1': metrics['baselines']['persistence']['macro_f1'],
           'majority_test_f1': metrics['baselines']['majority']['macro_f1'], 'best_params': best.params,
           'untuned_params': {k: getattr(cfg, k) for k in ('lr_head', 'lr_backbone', 'lr_decay_rate', 'weight_decay')}}
    print(table.round(4).to_string(index=False))
    print(json.dumps(row, indent=1, default=str))
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(f'{a.out}.json').write_text(json.dumps(row, indent=1, default=str))
        table.to_csv(f'{a.out}_trials.csv', index=False)
        Path(f'{a.out}.md').write_text(
            f"| | validation macro F1 (best epoch) | test macro F1 |\n|---|---|---|\n"
            f"| untuned demo config | {row['untuned_val_f1']:.3f} | {row['untuned_test_f1']:.3f} |\n"
            f"| best of {row['complete'] + row['pruned']} finished trials ({row['complete']} complete, {row['pruned']} pruned; "
            f"{row['fail']} failed; {sum(row['trial_minutes']):.1f} min of finished trials) | {row['tuned_val_f1']:.3f} | {row['tuned_test_f1']:.3f} |\n"
            f"| persistence (causal) | | {row['persistence_test_f1']:.3f} |\n| majority (causal) | | {row['majority_test_f1']:.3f} |\n")


if __name__ == '__main__':
    main()
