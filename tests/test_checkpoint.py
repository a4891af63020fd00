"""A checkpoint of the first format, written by the tsic of that time (tests/data/README.md), loads through the
migration, predicts what that version predicted, and is written again in the current format."""
import shutil
from pathlib import Path
import numpy as np, pandas as pd, torch
from tsic.bars import load_msft
from tsic.checkpoint import CHECKPOINT_FORMAT, load_checkpoint
from tsic.predict import Predictor

DATA = Path(__file__).parent / 'data'
OLD = DATA / 'checkpoint_format1.ckpt'


def test_a_format_1_checkpoint_predicts_as_the_version_that_wrote_it(tmp_path):
    assert torch.load(OLD, weights_only=True)['format'] == 'tsic-checkpoint-1'  # the file is what it says
    ckpt = load_checkpoint(OLD)
    assert ckpt.provenance.source == 'series' and ckpt.provenance.renderer['msft']['window'] == 40
    assert ckpt.epoch == 0 and ckpt.progress.tracker['best_name'].startswith('epoch=00000') and 'optimizer' in ckpt.progress.training
    expected = pd.read_csv(DATA / 'checkpoint_format1_predictions.csv', parse_dates=['timestamp'])
    got = Predictor.from_checkpoint(OLD).predict_bars(load_msft().iloc[-300:], last=5)
    assert got.timestamp.tolist() == expected.timestamp.tolist() and got.predicted.tolist() == expected.predicted.tolist()
    probs = [c for c in expected if c.startswith('prob_')]
    np.testing.assert_allclose(got[probs].to_numpy(), expected[probs].to_numpy(), atol=1e-6)

    copy = shutil.copy(OLD, tmp_path / 'old.ckpt')
    again = load_checkpoint(copy).save(tmp_path / 'new.ckpt')
    assert torch.load(again, weights_only=True)['format'] == CHECKPOINT_FORMAT
    assert Path(copy).read_bytes() == OLD.read_bytes()  # reading migrates in memory: the old file is left as it was
    newer = Predictor.from_checkpoint(again).predict_bars(load_msft().iloc[-300:], last=5)
    np.testing.assert_allclose(newer[probs].to_numpy(), got[probs].to_numpy(), atol=0)


LONG = DATA / 'checkpoint_format2_long.ckpt'


def test_a_format_2_hybrid_on_long_series_reads_its_windows_as_it_was_trained():
    "Format 2's series encoder read at most 512 steps (a constant then; `model.encoder_steps`, 256, now): its 300-step windows stay whole, so it predicts as before."
    assert torch.load(LONG, weights_only=True)['format'] == 'tsic-checkpoint-2'
    ckpt = load_checkpoint(LONG)
    assert ckpt.config['model']['encoder_steps'] == 512 and ckpt.config['timeseries']['window_size'] == 300
    expected = pd.read_csv(DATA / 'checkpoint_format2_long_predictions.csv')
    got = Predictor.from_checkpoint(LONG).predict(np.load(DATA / 'checkpoint_format2_long_series.npy'))
    assert Predictor.from_checkpoint(LONG).model.stride == 1
    np.testing.assert_allclose(got[['prob_0', 'prob_1']].to_numpy(), expected[['prob_0', 'prob_1']].to_numpy(), atol=1e-6)
