"""tsic's MiniRocket against sktime's (the bench extra, installed by `make test-slow`): the same features where the random draws cannot differ."""
import numpy as np, pytest, torch


@pytest.mark.slow
@pytest.mark.parametrize('length', [24, 150, 700])
def test_features_equal_sktime_minirocket_fitted_on_one_series(length):
    "Fitted on a single series (the draw of a series for each bias cannot differ), biases and features equal sktime's up to float rounding."
    rocket = pytest.importorskip('sktime.transformations.panel.rocket')
    from tsic.rocket import MiniRocket
    X = np.random.default_rng(length).standard_normal((30, 1, length)).cumsum(-1).astype(np.float32)
    theirs = rocket.MiniRocket(random_state=0).fit(X[:1])
    ours = MiniRocket(1, length).fit(torch.from_numpy(X[:1]))
    dilations, counts, biases = theirs.parameters
    assert ours.dilations == dilations.tolist() and ours.counts == counts.tolist()
    np.testing.assert_allclose(ours.biases.numpy(), biases, rtol=1e-4, atol=1e-4)
    differ = np.abs(ours(torch.from_numpy(X)).numpy() - theirs.transform(X).to_numpy()) > 1e-6
    # a count moves by one step only where a response equals its bias up to rounding (sktime sums the kernel in another order)
    assert differ.mean() < 1e-3, differ.mean()
