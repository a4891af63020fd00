"""No progress bars in logs (issue 15, case 11): output that is not a terminal gets one line per epoch, not bars."""
import logging, re
from tsic.train import train
from conftest import config_for
from test_build import SPY, SPY_FORMAT, tsic_build


def test_training_writes_no_bars_into_a_log(small_dataset, tmp_path, capsys, caplog):
    caplog.set_level(logging.INFO, logger='tsic')
    train(config_for(small_dataset, tensorboard=False, max_epochs=1), run_dir=tmp_path / 'run')  # stdout captured: not a terminal
    out = capsys.readouterr()
    assert '█' not in out.out + out.err and '\r' not in out.out
    assert len(re.findall(r'epoch \d: train loss [\d.]+, val loss [\d.]+, val macro F1 [\d.]+', caplog.text)) == 1


def test_build_into_a_pipe_writes_no_bars(tmp_path):
    src = tmp_path / 'spy.csv'; src.write_text(''.join(SPY.read_text().splitlines(keepends=True)[:2000]))
    out = tsic_build(src, '--data-dir', tmp_path, *SPY_FORMAT, '--timeframe', '5m', '--resample', '--image-size', 48, '--chunk', 8)
    assert out.returncode == 0, out.stderr
    assert '█' not in out.stdout + out.stderr and '\r' not in out.stdout + out.stderr
