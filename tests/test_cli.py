"""`tsic predict` and `tsic export` as processes, on a checkpoint trained here (tiny, random-init ResNet-18)."""
import subprocess
from pathlib import Path
import numpy as np, pandas as pd, pytest
from conftest import BIN


def tsic(*args) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / 'tsic'), *map(str, args)], capture_output=True, text=True, timeout=300)


def test_predict_from_a_csv_of_bars_and_from_images(checkpoint, small_dataset, tmp_path):
    from tsic.bars import load_msft
    bars = load_msft().iloc[300:420]  # bars the model never saw, in a ';' file with another time format
    src = tmp_path / 'latest.csv'
    bars.to_csv(src, sep=';', index_label='Date', date_format='%d.%m.%Y')
    proc = tsic('predict', checkpoint, src, '--sep', ';', '--time-format', '%d.%m.%Y', '--last', '25', '-o', tmp_path / 'p.csv')
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(tmp_path / 'p.csv', parse_dates=['timestamp'])
    assert len(table) == 25 and table.timestamp.iloc[-1] == bars.index[-1]
    probs = table[['prob_down', 'prob_flat', 'prob_up']].to_numpy()
    assert np.allclose(probs.sum(1), 1, atol=1e-5)
    assert (table.predicted == np.array(['down', 'flat', 'up'])[probs.argmax(1)]).all()
    images = tsic('predict', checkpoint, small_dataset / 'test')  # printed to stdout
    assert images.returncode == 0, images.stderr
    printed = pd.read_csv(__import__('io').StringIO(images.stdout))
    assert len(printed) == len(list((small_dataset / 'test').rglob('*.png'))) and printed.true.notna().all()


def test_predict_errors_name_the_problem(checkpoint, tmp_path, capsys):
    "Each error in-process through `tsic.cli.main` (the exit code and message a shell sees), one as a real process."
    from tsic.cli import main
    def run(*args):
        with pytest.raises(SystemExit) as exit: main([str(a) for a in args])
        return exit.value.code, capsys.readouterr().err
    (tmp_path / 'short.csv').write_text('timestamp,open,high,low,close,volume\n2020-01-01,1,1,1,1,1\n')
    code, err = run('predict', checkpoint, tmp_path / 'short.csv')
    assert code == 2 and '1 bars; the first window needs 60' in err
    code, err = run('predict', checkpoint, missing := tmp_path / 'missing')
    assert code == 2 and f'{missing}: no such file or folder' in err
    from tsic.bars import load_msft
    load_msft().iloc[:100].to_csv(tmp_path / 'ok.csv')
    code, err = run('predict', checkpoint, tmp_path / 'ok.csv', '--thresholds')  # none fitted yet: an error, not a silent argmax
    assert code == 2 and 'has no decision offsets' in err
    (tmp_path / 'bad.ckpt').write_bytes(b'\0' * 10)
    proc = tsic('predict', tmp_path / 'bad.ckpt', tmp_path / 'short.csv')
    assert proc.returncode == 2 and 'bad.ckpt: not a tsic checkpoint (unreadable bytes)' in proc.stderr


def test_predict_in_int8_calibrates_on_its_input_or_on_calibration(checkpoint, tmp_path, capsys):
    "`--runtime onnx-int8`: by default the input's own windows set the ranges (as `Predictor` does with it), or `--calibration`'s."
    from tsic.bars import load_msft
    from tsic.cli import main
    from tsic.predict import Predictor
    bars = load_msft()
    bars.iloc[300:420].to_csv(latest := tmp_path / 'latest.csv'); bars.iloc[:300].to_csv(history := tmp_path / 'history.csv')
    def probs(*args):  # in-process: the printed table, as a shell sees it
        main(['predict', str(checkpoint), str(latest), '--runtime', 'onnx-int8', *map(str, args)])
        return pd.read_csv(__import__('io').StringIO(capsys.readouterr().out)).filter(like='prob_').to_numpy()
    own, calibrated = probs(), probs('--calibration', history)
    np.testing.assert_allclose(own, Predictor.from_checkpoint(checkpoint, runtime='onnx-int8', calibration=latest).predict(latest).filter(like='prob_'), atol=1e-6)
    np.testing.assert_allclose(calibrated, Predictor.from_checkpoint(checkpoint, runtime='onnx-int8', calibration=history).predict(latest).filter(like='prob_'), atol=1e-6)
    assert len(own) == 120 - 59 and np.abs(own - Predictor.from_checkpoint(checkpoint).predict(latest).filter(like='prob_').to_numpy()).max() < 0.05
    with pytest.raises(SystemExit) as exit: main(['predict', str(checkpoint), str(latest), '--calibration', str(history)])
    assert exit.value.code == 2 and "calibration (--calibration) goes with runtime 'onnx-int8'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit: main(['serve', str(checkpoint), '--runtime', 'onnx-int8'])  # stops before it listens
    assert exit.value.code == 2 and "calibration (--calibration) goes with runtime 'onnx-int8'" in capsys.readouterr().err


@pytest.mark.slow  # make test stays under 10 minutes; .ci/run runs it after
def test_export_agrees_with_the_checkpoint(checkpoint, small_dataset, tmp_path):
    from tsic.predict import Predictor, load_exported
    from tsic.readers import decode_chart
    for name in ('model.pt', 'model.onnx'):
        proc = tsic('export', checkpoint, tmp_path / name)
        assert proc.returncode == 0, proc.stderr
        run, meta = load_exported(tmp_path / name)
        p = Predictor.from_checkpoint(checkpoint)
        images = np.stack([decode_chart(f, meta['image_size']) for f in sorted((small_dataset / 'val').rglob('*.png'))[:7]])
        assert np.allclose(run(np.ascontiguousarray(images.transpose(0, 3, 1, 2))), p.probabilities(images), atol=1e-5)
