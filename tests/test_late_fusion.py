"""Single mode with `model.late_fusion: ridge`: the ridge on the chart's profile is fitted by training, travels in the
checkpoint, and predicts through `Predictor` and the exported files what training scored."""
import numpy as np, pytest


def rising_series(n: int, seed: int):
    "Random walks whose class is whether their last 8 steps rose: a line chart shows it at its right edge."
    x = np.cumsum(np.random.default_rng(seed).standard_normal((n, 40)), 1)
    return x, (x[:, -1] > x[:, -9]).astype(int)


@pytest.mark.slow
def test_the_chart_ridge_travels_in_the_checkpoint_and_the_exported_model(tmp_path):
    from tsic.config import load_config
    from tsic.predict import Predictor, export_model, load_exported
    from tsic.sources import array_data
    from tsic.train import train
    (X, y), (X_test, y_test) = rising_series(160, 0), rising_series(60, 1)
    data = array_data(X, y, X_test, y_test, 'line', 32, val_fraction=0.2)
    cfg = load_config(model_architecture_name='resnet18', pretrained=False, image_size=32, num_classes=2, class_names=data.class_names,
                      datasets=['rising'], max_epochs=1, batch_size=16, use_progressive_unfreezing=False, check_data=False,
                      tensorboard=False, augment=False, model={'late_fusion': 'ridge'}, class_balance='weights')
    result = train(cfg, run_dir=tmp_path / 'run', data=data)
    model = result.learn.model
    assert type(model.late_head).__name__ == 'ChartRidge' and model.fusion_weight > 0.75, model.fusion_weight
    scored, targets = result.learn.get_preds(ds_idx=2)
    assert (scored.argmax(1) == targets).float().mean() > 0.75  # the fused model reads the rise off the charts
    p = Predictor.from_checkpoint(result.best_checkpoint)
    assert type(p.model.late_head).__name__ == 'ChartRidge' and abs(p.model.fusion_weight - model.fusion_weight) < 1e-6
    np.testing.assert_allclose(p.series_probabilities(X_test), scored.numpy(), atol=1e-5)
    images = np.ascontiguousarray(data.charts(data.rows('test')).transpose(0, 3, 1, 2))
    for name in ('chart.pt', 'chart.onnx'):
        run, meta = load_exported(export_model(p, tmp_path / name, 'onnx' if name.endswith('onnx') else 'torchscript'))
        np.testing.assert_allclose(run(images), scored.numpy(), atol=1e-4)
