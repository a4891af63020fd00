"""The model stacked with the lagged label, end to end, on the checkpoint a real (tiny) training wrote: training keeps the
stacking in it; `Predictor` on the raw bars (a file, the CLI, a live stream) works out each window's lagged label and
gives the stacked calls training's own definition gives; chart images, thresholds beside it, and a model without it
are refused with a message that says what to do."""
import shutil, subprocess, sys
from pathlib import Path
import numpy as np, pandas as pd, pytest
from tsic.bars import load_msft
from tsic.checkpoint import load_checkpoint
from tsic.predict import Predictor, PredictError
from tsic.sources import load_data
from tsic.train import stacking_calls
from conftest import config_for

PROBS = ['prob_down', 'prob_flat', 'prob_up']
BARS = 900  # the first real MSFT bars: enough for every class among the validation windows (400 give 7 of two classes)


@pytest.fixture(scope='module')
def stacked_run(tmp_path_factory):
    "A 48-px dataset built from the first `BARS` MSFT bars, and the best checkpoint of a one-epoch run on it (random-init ResNet-18, 32 px)."
    import warnings
    from tsic.labels import ChartDatasetSpec
    from tsic.build import build_chart_dataset
    from tsic.train import train
    folder = build_chart_dataset(load_msft().iloc[:BARS], tmp_path_factory.mktemp('data'), ChartDatasetSpec(image_size=48))
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return folder, train(config_for(folder, tensorboard=False), run_dir=tmp_path_factory.mktemp('run')).best_checkpoint


def test_predictor_on_bars_gives_the_stacked_calls_training_scored(stacked_run):
    small_dataset, checkpoint = stacked_run
    p = Predictor.from_checkpoint(checkpoint)
    assert p.stacking is not None and p.stacking.rule.shape == (4, 3) and 0 <= p.stacking.share <= 1
    data = load_data(config_for(small_dataset)); test = data.rows('test')
    expected = stacking_calls(p.stacking, p.score_data(data, test), test.persistence_label)  # training's definition
    bars = load_msft().iloc[:BARS]  # the bars the dataset was built from
    got = p.predict_bars(bars, stacked=True).set_index('timestamp').loc[test.timestamp]
    lagged = got.lagged_label.to_numpy()  # by class name, as the table shows it
    same = lagged == np.asarray(p.class_names, dtype=object)[test.persistence_label.to_numpy()]
    # the build's table lacks the purge windows before the test block, so its first `horizon` rows may read an older label there
    assert same[5:].all() and same.mean() > 0.9, np.flatnonzero(~same)
    names = np.asarray(p.class_names)
    assert (got.predicted.to_numpy()[same] == names[expected[same]]).all()
    blended = got[PROBS].to_numpy()
    np.testing.assert_allclose(blended.sum(1), 1, atol=1e-6)


def test_the_blend_lines_up_the_network_and_the_rule_row_by_row(stacked_run):
    "With a hand-made stacking of share 0.5, each row's stacked probabilities are the blend of that row's own network probabilities and its lagged label's rule row."
    from tsic.checkpoint import Stacking
    from tsic.metrics import blend
    p = Predictor.from_checkpoint(stacked_run[1])
    rule = np.array([[0.7, 0.2, 0.1], [0.2, 0.6, 0.2], [0.1, 0.2, 0.7], [1 / 3, 1 / 3, 1 / 3]])
    p.stacking = Stacking(rule, 0.5, np.zeros(3))
    bars = load_msft().iloc[1000:1300]
    own, stacked = p.predict_bars(bars), p.predict_bars(bars, stacked=True)
    assert 'lagged_label' not in own and own.timestamp.tolist() == stacked.timestamp.tolist()
    lagged = [p.class_names.index(c) if isinstance(c, str) else -1 for c in stacked.lagged_label]
    assert lagged[:5] == [-1] * 5 and min(lagged[5:]) >= 0  # none known for the first horizon (5) windows, then every one
    np.testing.assert_allclose(stacked[PROBS].to_numpy(), blend(own[PROBS].to_numpy(), rule[lagged], 0.5), atol=1e-6)
    assert (stacked.predicted.to_numpy() != own.predicted.to_numpy()).any()  # the rule moves some calls


def test_short_bars_and_a_renamed_quantile_build(stacked_run):
    "Bars too few for any window to have ended give unknown lagged labels, not an error; a quantile build's cut points are found under the checkpoint's name for the dataset."
    p = Predictor.from_checkpoint(stacked_run[1])
    short = load_msft().iloc[:62]  # three windows, none whose horizon has ended
    assert p.predict_bars(short, stacked=True).lagged_label.isna().all() and len(p.predict_bars(short)) == 3
    name = p._drawn_name(None)
    p.provenance.renderer[name] = {**p.provenance.renderer[name], 'label_rule': 'quantile', 'dataset': 'built-under-another-name'}
    cuts = [-0.01, 0.02]
    p.provenance.datasets[name] = {**p.provenance.datasets[name], 'labels': {'rule': 'quantile', 'cut_points': cuts}}
    bars = load_msft().iloc[:300]
    from tsic.labels import lagged_labels
    ends = np.arange(59, 300)
    want = lagged_labels(bars, p._spec(None), ends, tuple(cuts))
    np.testing.assert_array_equal(p._lagged(bars, p._spec(None), ends), want)
    np.testing.assert_array_equal(p._lagged(bars, p._spec(None), ends[-1:]), want[-1:])  # the live window: from the last bars only
    del p.provenance.datasets[name]['labels']
    with pytest.raises(PredictError, match="records no label cut points for dataset 'msft'"):
        p.predict_bars(bars, stacked=True)


@pytest.mark.slow  # make test stays under 10 minutes; .ci/run runs it after
def test_the_cli_and_a_live_stream_give_the_same_stacked_calls(stacked_run, tmp_path):
    checkpoint = stacked_run[1]
    p = Predictor.from_checkpoint(checkpoint)
    bars = load_msft().iloc[:300]
    expected = p.predict_bars(bars, stacked=True)
    csv = tmp_path / 'bars.csv'
    bars.to_csv(csv)
    out = tmp_path / 'calls.csv'
    run = subprocess.run([str(Path(sys.executable).parent / 'tsic'), 'predict', str(checkpoint), str(csv), '--stacked', '--out', str(out)],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    cli = pd.read_csv(out)
    assert cli.predicted.tolist() == expected.predicted.tolist()
    np.testing.assert_allclose(cli[PROBS].to_numpy(), expected[PROBS].to_numpy(), atol=1e-6)
    stream = p.stream(stacked=True)
    calls = [c for c in (stream.push(t, *row) for t, row in zip(bars.index, bars.to_numpy())) if c is not None]
    live = expected.set_index('timestamp').loc[[c.timestamp for c in calls]]
    assert len(calls) == len(expected) - 5  # the stream waits for the window a horizon (5 bars) earlier to be complete
    assert [c.predicted for c in calls] == live.predicted.tolist()
    np.testing.assert_allclose(np.stack([c.probabilities for c in calls]), live[PROBS].to_numpy(), atol=1e-6)


def test_stacking_is_refused_where_it_cannot_be_applied(stacked_run, tmp_path):
    small_dataset, checkpoint = stacked_run
    p = Predictor.from_checkpoint(checkpoint)
    with pytest.raises(PredictError, match=r"predict from the bars \(a CSV file or a DataFrame\), not from chart images"):
        p.predict(small_dataset / 'test', stacked=True)
    for call in (lambda: p.predict_bars(load_msft().iloc[:300], stacked=True, thresholds=True), lambda: p.stream(stacked=True, thresholds=True)):
        with pytest.raises(PredictError, match='stacked calls have their own decision offsets'): call()
    plain = load_checkpoint(checkpoint); plain.stacking = None
    unstacked = Predictor.from_checkpoint(plain.save(tmp_path / 'plain.ckpt'))
    for call in (lambda: unstacked.predict_bars(load_msft().iloc[:300], stacked=True), lambda: unstacked.stream(stacked=True)):
        with pytest.raises(PredictError, match='has no stacking with the lagged label'): call()
    assert 'lagged_label' not in p.read_bars(load_msft().iloc[:300]).samples  # computed only when asked for (the live path pays nothing)


def test_the_service_gives_the_stacked_calls_and_refuses_charts(stacked_run):
    from test_serve import bars_json, call, free_port, wait_for
    folder, checkpoint = stacked_run
    port = free_port()
    proc = subprocess.Popen([str(Path(sys.executable).parent / 'tsic'), 'serve', str(checkpoint), '--port', str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f'http://127.0.0.1:{port}'
    try:
        wait_for(lambda: call(url + '/health', timeout=5)[0] == 200, proc)
        p, bars = Predictor.from_checkpoint(checkpoint), load_msft().iloc[500:700]
        want = p.predict_bars(bars, last=5, stacked=True)
        status, got = call(url + '/predict?last=5&stacked=true', bars_json(bars))
        assert status == 200, got
        assert [r['class'] for r in got['predictions']] == want.predicted.tolist()
        np.testing.assert_allclose([list(r['probabilities'].values()) for r in got['predictions']], want[PROBS].to_numpy(), atol=1e-5)
        assert call(url + '/model')[1]['stacking_share'] == p.stacking.share
        png = sorted((folder / 'test').rglob('*.png'))[0].read_bytes()
        status, refused = call(url + '/predict?stacked=true', png, 'image/png')
        assert status == 422 and 'predict from the bars' in refused['detail'], refused
    finally:
        proc.terminate(); proc.wait(30)
