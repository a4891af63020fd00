"""`Predictor.stream` on a feed with faults, with the checkpoint a real (tiny) training wrote: a bad bar is refused by its
timestamp and the feed goes on without it; a pause restarts the stream with a logged warning; the calls equal
`predict_bars` on the bars that were kept."""
import logging
import numpy as np, pandas as pd, pytest
from tsic.bars import BarsError, load_msft
from tsic.predict import Predictor

PROBS = ['prob_down', 'prob_flat', 'prob_up']


def feed(stream, bars: pd.DataFrame) -> tuple[list, list[str]]:
    "Push every bar as a live system would, leaving out those the stream refuses; the calls made and the refusals."
    calls, refused = [], []
    for stamp, row in zip(bars.index, bars.to_numpy()):
        try: call = stream.push(stamp, *row)
        except BarsError as e: refused.append(str(e)); continue
        if call is not None: calls.append(call)
    return calls, refused


def test_bad_bars_are_refused_and_the_feed_goes_on(checkpoint):
    p = Predictor.from_checkpoint(checkpoint)
    bars = load_msft().iloc[400:560].copy()
    bad_at = [bars.index[70], bars.index[100], bars.index[130]]
    bars.loc[bad_at[0], 'high'] = bars.loc[bad_at[0], 'low'] / 2   # high below the low
    bars.loc[bad_at[1], 'close'] = np.nan                           # a missing close
    bars.loc[bad_at[2], 'volume'] = -5                              # negative volume
    calls, refused = feed(p.stream(), bars)
    assert len(refused) == 3
    for stamp, what, message in zip(bad_at, ['high below open/close', 'NaN or infinite', 'negative volume'], refused):
        assert f'the bar at {stamp}' in message and what in message and 'leave the bar out' in message
    kept = bars.drop(index=bad_at)
    expected = p.predict_bars(kept)
    assert [c.timestamp for c in calls] == expected.timestamp.tolist()
    np.testing.assert_allclose(np.stack([c.probabilities for c in calls]), expected[PROBS].to_numpy(), atol=1e-6)


@pytest.mark.slow  # make test stays under 10 minutes (08_predict's gap_calls cover a pause); .ci/run runs it after
def test_a_pause_restarts_the_stream_and_says_so(checkpoint, caplog):
    p = Predictor.from_checkpoint(checkpoint)
    bars = load_msft().iloc[400:600].copy()
    bars.index = bars.index[:90].append(bars.index[90:] + pd.Timedelta(days=60))  # two months without bars after bar 90
    stream = p.stream()
    with caplog.at_level(logging.WARNING, logger='tsic.readers'):
        calls, refused = feed(stream, bars)
    assert refused == []
    warned = [r.getMessage() for r in caplog.records if 'a pause of' in r.getMessage()]
    assert len(warned) == 1 and str(bars.index[90]) in warned[0] and f'after {stream.bars.length} bars' in warned[0]
    expected = p.predict_bars(bars)  # the same rule for a file: no window across the pause
    assert [c.timestamp for c in calls] == expected.timestamp.tolist()
    assert bars.index[90 + stream.bars.length - 1] == calls[90 - stream.bars.length + 1].timestamp  # the first call after it


def test_a_feed_of_another_timeframe_is_refused(checkpoint):
    p = Predictor.from_checkpoint(checkpoint)
    hourly = load_msft().iloc[400:470].copy()
    hourly.index = pd.date_range('2024-01-02 09:00', periods=len(hourly), freq='1h')
    with pytest.raises(BarsError, match=r"comes 0 days 01:00:00 after the bar before, but the model reads 1d bars"):
        p.stream().extend(hourly)
    weekly = load_msft().iloc[400:470].copy()
    weekly.index = pd.date_range('2000-01-03', periods=len(weekly), freq='7D')
    with pytest.raises(BarsError, match=r"sparser than 1d, the timeframe the model reads"):
        p.stream().extend(weekly)
