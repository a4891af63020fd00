"""bench/ucr.py on a dataset with more classes than a stratified validation carve has slots (52 classes, 104 training series)."""
import importlib.util, json
import numpy as np, pytest
from conftest import ROOT


def load_bench():
    spec = importlib.util.spec_from_file_location('ucr_bench', ROOT / 'bench' / 'ucr.py')
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


def test_carve_problem_names_why_a_stratified_carve_cannot_work():
    from tsic.sources import array_data
    X, y = series([2] * 52)
    with pytest.raises(ValueError, match='greater or equal to the number of classes = 52'):  # what crashed the bench
        array_data(X, y, X[:52], y[::2], 'gasf', 16, 0.2)
    assert ucr.carve_problem(y, 0.2) == '52 classes but a 0.2 validation carve holds 21 of the 104 training series'
    assert ucr.carve_problem(y, 0.6) == '52 classes but a 0.6 validation carve leaves 41 training series'
    assert ucr.carve_problem([0, 0, 1, 1, 2], 0.5) == 'class 2 has only 1 training series'
    assert ucr.carve_problem(np.repeat(np.arange(3), 10), 0.2) is None


def test_bench_data_chooses_the_protocol():
    X, y = series([10, 10, 10])
    data, protocol, why = ucr.bench_data(X, y, X[:6], y[:6], 'gasf', 16, 0.2, 0, 'three')
    assert protocol == 'validation' and set(data.rows('val').label) == {0, 1, 2} and len(data.rows('val')) == 6, why
    X, y = series([40, 2, 2])  # the carve is possible, but its 5 validation series all go to class 0
    data, protocol, why = ucr.bench_data(X, y, X[:6], y[:6], 'gasf', 16, 0.1, 0, 'skewed')
    assert protocol == 'fixed' and 'leaves a class without a validation or a training series' in why
    assert len(data.rows('train')) == 44 and (data.rows('val').image_row.to_numpy() == data.rows('train').image_row.to_numpy()).all()


@pytest.mark.slow
def test_bench_trains_52_classes_on_all_104_training_series(tmp_path, capsys):
    X, y = series([2] * 52)
    X_test, y_test = series([1] * 52, seed=1)
    np.savez(tmp_path / 'many.npz', X_train=X, y_train=y, X_test=X_test, y_test=y_test)
    ucr.main([str(tmp_path / 'many.npz'), '--encoding', 'gasf', '--arch', 'efficientnet_lite0', '--epochs', '1', '--size', '32',
              '--batch-size', '32', '--json', str(tmp_path / 'result.jsonl')])
    out = capsys.readouterr().out
    assert (f"{tmp_path / 'many.npz'}: protocol 'fixed': all 104 training series, the fixed 1 epochs, last epoch scored, because "
            "52 classes but a 0.2 validation carve holds 21 of the 104 training series") in out, out
    assert "samples {'train': 104, 'val': 104, 'test': 52}" in out and '(fixed schedule: last epoch 0)' in out, out
    record = json.loads((tmp_path / 'result.jsonl').read_text())
    assert record['protocol'] == 'fixed' and record['protocol_why'].startswith('52 classes') and record['scored_epoch'] == 0
    assert record['best_epoch'] is None and 0 <= record['accuracy'] <= 1 and len(record['val_f1']) == 1
