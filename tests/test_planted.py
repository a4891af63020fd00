"""bench/planted.py: market bars with signals of known strength, and the table that sets the models beside the rules."""
import numpy as np, pandas as pd, pytest
from test_ucr_bench import load_bench

planted = load_bench('planted.py')


def labels_and_persistence(signal, n=6000, seed=0):
    "The zscore labels (window 40, horizon 4) of the planted bars, the persistence rule's predictions, the returns and events."
    from tsic.labels import forward_zscores, three_classes
    returns, events = planted.planted_returns(signal, n, seed)
    bars = planted.planted_bars(returns, seed)
    label = three_classes(forward_zscores(bars.close.to_numpy(), planted.WINDOW, planted.HORIZON), -0.4307, 0.4307)
    ends = np.arange(planted.WINDOW + 20, n - planted.HORIZON)
    ends = ends[(label[ends] >= 0) & (label[ends - planted.HORIZON] >= 0)]
    return ends, label[ends], label[ends - planted.HORIZON], returns, events


@pytest.mark.parametrize('signal, rule, low, high', [('momentum', 'persistence', 0.38, 0.43), ('reversal', 'reversal', 0.37, 0.42),
                                                     ('none', 'persistence', 0.30, 0.36), ('none', 'reversal', 0.30, 0.36)])
def test_each_signal_has_the_strength_it_was_planted_with(signal, rule, low, high):
    "Persistence scores about 0.40 on momentum, its mirror as much on reversal, and both chance on the random walk."
    ends, y, persistence, *_ = labels_and_persistence(signal)
    prediction = persistence if rule == 'persistence' else 2 - persistence
    assert low < planted.macro_f1(y, prediction) < high


def test_the_oracle_knows_more_than_the_causal_rules_where_there_is_something_to_know():
    "The squeeze: only a breakout after a squeeze drifts; the rule that knows when that happened beats persistence."
    ends, y, persistence, returns, events = labels_and_persistence('squeeze')
    assert len(events) > 50 and set(events.direction) == {-1, 1}
    oracle = planted.oracle_predictions('squeeze', returns, events, ends, y, persistence)
    assert planted.macro_f1(y, oracle) > planted.macro_f1(y, persistence) + 0.01
    inside = np.isin(ends, events.bar)  # windows ending on a true breakout: the drift decides their label
    assert (y[inside] == np.where(events.set_index('bar').direction.reindex(ends[inside]) > 0, 2, 0)).mean() > 0.7
    ends, y, persistence, returns, events = labels_and_persistence('momentum')
    oracle = planted.oracle_predictions('momentum', returns, events, ends, y, persistence)
    assert planted.macro_f1(y, oracle) > planted.macro_f1(y, persistence)
    assert planted.oracle_predictions('none', returns, events, ends, y, persistence) is None


def test_bars_are_valid_ohlcv_and_seeded():
    returns, _ = planted.planted_returns('none', 500, 3)
    bars = planted.planted_bars(returns, 3)
    assert (bars.high >= bars[['open', 'close']].max(axis=1)).all() and (bars.low <= bars[['open', 'close']].min(axis=1)).all()
    np.testing.assert_allclose(np.diff(np.log(bars.close)), returns[1:])
    pd.testing.assert_frame_equal(bars, planted.planted_bars(*planted.planted_returns('none', 500, 3)[:1], 3))
    with pytest.raises(ValueError, match="signal must be one of"): planted.planted_returns('trend', 10, 0)


@pytest.mark.slow
def test_the_quick_run_builds_trains_and_scores_every_step(tmp_path):
    "--quick: tsic build, the walk-forward report through papermill in both modes, and the table with the rules beside the model."
    table = planted.main(['--quick', '--signals', 'momentum', '--work', str(tmp_path / 'work'), '--out', str(tmp_path / 'planted')])
    assert list(table.model_mode) == ['single', 'multi'] and (table.windows > 500).all()
    assert table.persistence.iloc[0] == table.persistence.iloc[1]  # the same test windows in both modes
    assert ((table.model >= 0) & (table.model <= 1)).all() and table.oracle.notna().all()
    best = table.apply(lambda r: r[r.best_causal_rule], axis=1)  # each call's difference from the best causal rule, inside its interval
    for name in planted.CALLS:
        assert table[name].between(0, 1).all() and (table[f'met_{name}'] == (table[name] >= table.goal)).all()
        assert np.allclose(table[f'{name}_minus_rule'], table[name] - best)
        assert ((table[f'{name}_minus_rule_low'] <= table[f'{name}_minus_rule']) & (table[f'{name}_minus_rule'] <= table[f'{name}_minus_rule_high'])).all()
    text = (tmp_path / 'planted.md').read_text()
    assert '| momentum | single |' in text and '(persistence − 0.02)' in text
    assert (tmp_path / 'work' / 'momentum' / 'wf-multi' / 'walk_forward.json').is_file()
    again = planted.main(['--quick', '--rescore', '--signals', 'momentum', '--work', str(tmp_path / 'work')])  # the kept runs, scored again
    for name in ('model', 'model_offsets'): assert np.allclose(again[name], table[name]), name  # the same networks: the same calls
    assert again.model_stacked.between(0, 1).all() and again.minutes.isna().all()


@pytest.mark.slow
def test_the_linear_probe_finds_the_squeeze_and_nothing_in_the_random_walk():
    "bench/planted_probe.py: a ridge on the window's features beats persistence where the shape decides, and is at chance on noise."
    probe = load_bench('planted_probe.py')
    squeeze, walk = probe.probe('squeeze', 4000, 0), probe.probe('none', 4000, 0)
    assert squeeze['ridge_on_window'] > squeeze['persistence'] + 0.01, squeeze
    assert 0.28 < walk['ridge_on_window'] < 0.38 and walk['test_windows'] > 1000, walk
