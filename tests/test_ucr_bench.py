"""bench/ucr.py: tsic and MiniRocket side by side, on arrays, on series of different lengths and on multivariate series."""
import importlib.util, json
import numpy as np, pandas as pd, pytest
from conftest import ROOT


def load_bench(file='ucr.py'):
    spec = importlib.util.spec_from_file_location(f'bench_{file[:-3]}', ROOT / 'bench' / file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ucr = load_bench()


def series(counts, length=24, seed=0):
    "Noisy sines, one frequency per class: X (n, length) and y, `counts[k]` series of class k."
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(len(counts)), counts)
    t = np.linspace(0, 2 * np.pi, length)
    return np.sin(np.outer(1 + y / 4, t)) + 0.1 * rng.normal(size=(len(y), length)), y


def sines_npz(tmp_path):
    "Twelve training and eight test sines of two classes, saved as the bench reads arrays (.npz)."
    X, y = series([6, 6])
    X_test, y_test = series([4, 4], seed=1)
    np.savez(tmp_path / 'sines.npz', X_train=X, y_train=y, X_test=X_test, y_test=y_test)
    return tmp_path / 'sines.npz'


def test_a_validation_carve_that_cannot_work_is_refused_with_the_reason(tmp_path):
    X, y = series([2] * 52)
    np.savez(tmp_path / 'many.npz', X_train=X, y_train=y, X_test=X[:52], y_test=y[::2])
    with pytest.raises(ValueError, match='cannot carve a validation set: 52 classes but a 0.2 validation carve holds 21 of the '
                                         '104 training series; use val_fraction=0'):
        ucr.main([str(tmp_path / 'many.npz'), '--val-fraction', '0.2', '--no-minirocket', '--seeds', '0'])
    with pytest.raises(SystemExit): ucr.main(['--size', 'big', 'GunPoint'])
    with pytest.raises(SystemExit): ucr.main([])


def test_the_table_counts_wins_ties_and_losses():
    table = pd.DataFrame({'dataset': ['a', 'b', 'c'], 'train': 10, 'test': 5, 'length': '24', 'variables': 1, 'classes': 2,
                          'image_size': 48, 'tsic_mean': [0.9, 0.8, 0.7001], 'tsic_std': 0.01, 'tsic_ensemble': [0.95, 0.8, 0.6],
                          'tsic_seconds': 3.0, 'minirocket_mean': [0.85, 0.9, 0.7], 'minirocket_std': 0.0,
                          'minirocket_seconds': 0.1, 'ResNet (Fawaz)': [0.8, np.nan, np.nan], 'network': 'ImageClassifier'})
    assert ucr.wins(table.tsic_mean, table.minirocket_mean) == '1/1/1'  # 0.7001 and 0.7 tie at three decimals
    assert ucr.wins(table.tsic_ensemble, table['ResNet (Fawaz)']) == '1/0/0'  # only where a figure is published
    text = ucr.markdown_table(table)
    assert '| a | 10 / 5 | 24 × 1 | 2 | ImageClassifier | 48 | 0.900 ± 0.010 | 0.950 | 0.850 ± 0.000 | 0.800 | – | 3 / 0.1 |' in text, text
    assert '| **mean** | | | | | | **0.800** | **0.783** | **0.817** |' in text
    assert '- tsic (mean over seeds) against MiniRocket, same run: wins/ties/losses 1/1/1' in text
    tta = ucr.markdown_table(table.assign(tsic_tta_mean=[0.91, 0.82, np.nan], tsic_tta_ensemble=[0.96, 0.84, np.nan]))
    assert '| 0.950 | 0.910 / 0.960 | 0.850 ± 0.000 |' in tta and '| 0.600 | – / – | 0.700 ± 0.000 |' in tta, tta  # a set without TTA: –
    assert '**0.865** / **0.900** (sets with TTA)' in tta


@pytest.mark.slow
def test_bench_trains_52_classes_on_all_104_training_series(tmp_path, capsys):
    X, y = series([2] * 52)
    X_test, y_test = series([1] * 52, seed=1)
    np.savez(tmp_path / 'many.npz', X_train=X, y_train=y, X_test=X_test, y_test=y_test)
    ucr.main([str(tmp_path / 'many.npz'), '--encoding', 'gasf', '--epochs', '2', '--size', '32', '--batch-size', '32',
              '--seeds', '0', '--no-minirocket', '--json', str(tmp_path / 'result.jsonl')])
    out = capsys.readouterr().out
    assert 'seed 0: tsic ' in out and '32 px, 1 copies, epoch 2 of 2 scored,' in out, out  # the fixed schedule: the last epoch is scored
    record = json.loads((tmp_path / 'result.jsonl').read_text())
    assert record['train'] == 104 and record['classes'] == 52 and 0 <= record['tsic_mean'] <= 1
    assert record['recipe']['val_fraction'] == 0 and record['recipe']['copies'] == 'auto'


def test_the_hybrid_and_test_time_augmentation_are_options(tmp_path, capsys):
    "--mode multi: the series encoder beside the CNN (here the transformer); --tta: the same models scored again with augmented test copies."
    table = ucr.main([str(sines_npz(tmp_path)), '--mode', 'multi', '--encoder', 'transformer', '--tta', '2', '--encoding', 'gasf', '--epochs', '2',
                      '--size', '32', '--seeds', '0', '--no-minirocket', '--out', str(tmp_path / 'hybrid')])
    out = capsys.readouterr().out
    assert 'recipe: multi mode, transformer encoder, late fusion minirocket, mixup 0, tta 2,' in out and 'with test-time augmentation (2 copies)' in out, out
    written = pd.read_csv(tmp_path / 'hybrid.csv')  # written without MiniRocket too
    assert written.network[0] == 'MultiModalNet'  # the series encoder beside the CNN really trained
    assert written.shape[0] == 1 and written.tsic_mean[0] == table.tsic_mean[0]
    assert written.tsic_tta_mean[0] in {k / 8 for k in range(9)}  # an accuracy on the 8 test series
    with pytest.raises(SystemExit): ucr.main([str(tmp_path / 'sines.npz'), '--mode', 'multi', '--mixup', '0.4'])


@pytest.mark.slow
def test_tsic_and_minirocket_side_by_side_on_equal_and_different_lengths(tmp_path, capsys):
    "UnitTest (24 steps) and JapaneseVowels (12 variables, 7 to 29 steps) from sktime, two seeds, the table written."
    table = ucr.main(['UnitTest', 'JapaneseVowels', '--epochs', '5', '--seeds', '0', '1', '--copies', '1', '--threads', '1',
                      '--out', str(tmp_path / 'ucr')])
    out = capsys.readouterr().out
    assert list(table.dataset) == ['UnitTest', 'JapaneseVowels']
    vowels = table.set_index('dataset').loc['JapaneseVowels']
    assert vowels.length == '7–29' and vowels.variables == 12 and vowels.classes == 9 and vowels.image_size == 96
    assert (table.minirocket_mean > 0.8).all(), out  # MiniRocket is strong on both: 0.91 and 0.99 here
    assert (vowels[['tsic_mean', 'tsic_ensemble']] > 0.5).all(), out  # far above chance (1/9) after five epochs, on 370 test series
    # (UnitTest's 22 test series are too few for such a check: one series is 4.5 points)
    md = (tmp_path / 'ucr.md').read_text()
    assert '| JapaneseVowels | 270 / 370 | 7–29 × 12 | 9 | MultiModalNet | 96 |' in md and 'wins/ties/losses' in md
    assert pd.read_csv(tmp_path / 'ucr.csv').shape[0] == 2


def test_the_recipe_rules_depend_on_the_training_set_size_only():
    assert [ucr.augment_copies(n) for n in (20, 50, 67, 100, 270, 537)] == [3, 3, 2, 1, 0, 0]
    assert [ucr.schedule_epochs(n, 8) for n in (50, 200, 400, 537, 5000)] == [80, 40, 20, 15, 10]  # 1,000 steps, 10 to 80 epochs


@pytest.mark.slow
def test_minirocket_features_as_the_second_input(tmp_path, capsys):
    "--second rocket: the multi-modal network reads MiniRocket's features (fitted on the training series) beside the image."
    table = ucr.main([str(sines_npz(tmp_path)), '--second', 'rocket', '--fusion', 'none', '--encoding', 'gasf', '--epochs', '2', '--size', '32',
                      '--copies', '1', '--seeds', '0', '--no-minirocket'])
    out = capsys.readouterr().out
    assert 'recipe: multi mode (MiniRocket features as the second input), transformer encoder, late fusion none' in out and table.network[0] == 'MultiModalNet', out
    X, _ = series([6, 6])
    features = ucr.rocket(X, 0)(series([4, 4], seed=1)[0])
    assert features.shape[0] == 8 and features.shape[1] > 5000  # ~10,000 features per series
    for bad in (['--second', 'rocket', '--tta', '2'], ['--second', 'rocket', '--mode', 'single'], ['--second', 'rocket']):  # the last: late fusion on
        with pytest.raises(SystemExit): ucr.main([str(tmp_path / 'sines.npz'), *bad])


@pytest.mark.slow
def test_the_tuning_bench_starts_from_the_recipe_and_scores_it_untuned_and_tuned(tmp_path, capsys, monkeypatch):
    "bench/tune_ucr.py: a study on a validation carve whose trial 0 is the recipe itself, then both on the test split."
    import optuna
    tune_ucr = load_bench('tune_ucr.py')
    calls, real = [], tune_ucr.ucr.tsic_run
    def recorded(*args, params=None, **kw):  # the real runs, with the settings each was given
        calls.append(params); return real(*args, params=params, **kw)
    monkeypatch.setattr(tune_ucr.ucr, 'tsic_run', recorded)
    recipe = '--encoding gasf --epochs 2 --size 32 --mode single --copies 0'
    [row] = tune_ucr.main([str(sines_npz(tmp_path)), '--n-trials', '3', '--seeds', '0', '--val-fraction', '0.25', '--work', str(tmp_path / 'w'),
                           '--out', str(tmp_path / 'out'), '--recipe', recipe])
    study = optuna.load_study(study_name='sines-ucr', storage=f"sqlite:///{tmp_path / 'w' / 'study.db'}")
    assert len(study.trials) == row['trials'] == 3 and row['val_series'] == 3, row
    options = ucr.parser().parse_args(['sines', *recipe.split()])
    cfg = ucr.recipe_config(*ucr.recipe_data(*ucr.load_ucr(str(tmp_path / 'sines.npz')), 'sines', 0, options, val_fraction=0.25), 'sines', 0, options)
    assert study.trials[0].params == {'lr_head': 1e-2, 'lr_backbone': 2.5e-3, 'lr_decay_rate': cfg.lr_decay_rate,
                                      'weight_decay': cfg.weight_decay, 'model.drop_path_rate': cfg.model.drop_path_rate}
    assert row['recipe_val_f1'] == study.trials[0].value and row['best_val_f1'] == study.best_value and row['best_trial'] == study.best_trial.number
    # the untuned recipe, then (unless the best trial is the recipe itself) the recipe with the study's best values
    assert calls == ([None] if row['best_is_recipe'] else [None, study.best_params]), (calls, row)
    assert len(row['untuned_seeds']) == len(row['tuned_seeds']) == 1 and 0 <= row['tuned_mean'] <= 1
    assert 'sines' in (tmp_path / 'out.md').read_text() and json.loads((tmp_path / 'out.json').read_text())[0]['dataset'] == 'sines'
    with pytest.raises(SystemExit): tune_ucr.main([str(tmp_path / 'sines.npz'), '--recipe', '--second rocket'])


def test_the_sets_copied_into_the_repository_load_by_name():
    "Trace (tslearn) and PickupGestureWiimoteZ (aeon, its original lengths) from examples/ucr/data, as the archive splits them."
    X, y, X_test, y_test = ucr.load_ucr('Trace')
    assert X.shape == (100, 275) and X_test.shape == (100, 275) and sorted(set(y)) == [1, 2, 3, 4]
    X, y, X_test, y_test = ucr.load_ucr('PickupGestureWiimoteZ')
    lengths = [len(s) for s in X] + [len(s) for s in X_test]
    assert len(X) == len(X_test) == 50 and (min(lengths), max(lengths)) == (29, 361) and len(set(y)) == 10
    assert ucr.describe(X, y, X_test) == {'train': 50, 'test': 50, 'length': '29–361', 'variables': 1, 'classes': 10}


def test_late_fusion_keeps_the_parts_it_averaged(tmp_path, capsys):
    "--fusion minirocket (the default): the fused probabilities are the weighted average of the network's and its MiniRocket head's, both kept with --parts."
    ucr.main([str(sines_npz(tmp_path)), '--encoding', 'gasf', '--epochs', '2', '--size', '32', '--seeds', '0', '--no-minirocket',
              '--parts', str(tmp_path / 'parts')])
    out = capsys.readouterr().out
    assert 'transformer encoder, late fusion minirocket' in out and 'its MiniRocket head' in out, out
    parts = np.load(tmp_path / 'parts' / 'sines_seed0.npz')
    share = float(parts['share'])  # the head's share of the vote: with no validation carved, its leave-one-out accuracy
    assert share == float(parts['loo_accuracy'])
    np.testing.assert_allclose(parts['fused'], (1 - share) * parts['network'] + share * parts['minirocket'], atol=1e-5)
    table = load_bench('parts_table.py').parts_table(tmp_path / 'parts')  # recomputes the fusion as tsic scored it
    assert table.fused[0] == (parts['fused'].argmax(1) == parts['labels']).mean() and table.seeds[0] == 1, table
    assert parts['labels'].shape == (8,) and 0 <= parts['loo_accuracy'] <= 1


@pytest.mark.slow
def test_a_late_fusion_checkpoint_predicts_what_training_scored_with_torch_alone(tmp_path):
    "The MiniRocket head travels in the checkpoint: a fresh process predicts the run's fused test probabilities without importing sktime."
    import subprocess, sys
    from types import SimpleNamespace
    from tsic.train import train
    X, y = series([6, 6]); X_test, y_test = series([4, 4], seed=1)
    a = ucr.parser().parse_args(['sines', '--encoding', 'gasf', '--epochs', '2', '--size', '32', '--copies', '0'])
    data, mode = ucr.recipe_data(X, y, X_test, y_test, 'sines', 0, a)
    cfg = ucr.recipe_config(data, mode, 'sines', 0, a)
    assert cfg.model.late_fusion == 'minirocket'
    result = train(cfg, run_dir=tmp_path / 'run', data=data)
    scored, _ = result.learn.get_preds(ds_idx=2)
    np.testing.assert_allclose(ucr.fusion_parts(result.learn, data)['fused'].numpy(), scored.numpy(), atol=1e-6)  # the bench fuses its parts as the network does
    np.save(tmp_path / 'X_test.npy', X_test)
    script = ("import sys, numpy as np; from tsic.predict import Predictor\n"
              f"p = Predictor.from_checkpoint({str(result.best_checkpoint)!r})\n"
              f"np.save({str(tmp_path / 'probs.npy')!r}, p.series_probabilities(np.load({str(tmp_path / 'X_test.npy')!r})))\n"
              "print('sktime' in sys.modules, type(p.model.late_head).__name__, float(p.model.fusion_weight))")
    out = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, check=True).stdout.split()
    assert out[:2] == ['False', 'RocketClassifier'] and abs(float(out[2]) - float(result.learn.model.fusion_weight)) < 1e-6, out
    np.testing.assert_allclose(np.load(tmp_path / 'probs.npy'), scored.numpy(), atol=1e-5)
