"""Shared fixtures: small real chart datasets built with tsic itself, and the project paths."""
import shutil, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.fixture(scope='session')
def small_dataset(tmp_path_factory) -> Path:
    "A 48-px chart dataset from the first 400 real MSFT bars (train/val/test, three classes)."
    from tsic.bars import load_msft
    from tsic.labels import ChartDatasetSpec
    from tsic.build import build_chart_dataset
    return build_chart_dataset(load_msft().iloc[:400], tmp_path_factory.mktemp('data'), ChartDatasetSpec(image_size=48))


@pytest.fixture
def dataset_copy(small_dataset, tmp_path) -> Path:
    "A private copy of `small_dataset` that a test may damage."
    return Path(shutil.copytree(small_dataset, tmp_path / small_dataset.name))


def config_for(folder: Path, **overrides):
    from tsic.config import load_config
    settings = dict(datasets=['msft'], dataset_msft_dir=str(folder), model_architecture_name='resnet18',
                    pretrained=False, image_size=32, batch_size=16, max_epochs=1, check_data=False,
                    use_progressive_unfreezing=False, cache_dir=str(Path(folder).parent / 'tsic-cache'))
    return load_config(ROOT / 'configs' / 'demo.yaml', **{**settings, **overrides})


@pytest.fixture(scope='session')
def checkpoint(small_dataset, tmp_path_factory) -> Path:
    "The best checkpoint of a one-epoch run on `small_dataset` (random-init ResNet-18, 32 px). Copy it before changing it."
    import warnings
    from tsic.train import train
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return train(config_for(small_dataset, tensorboard=False), run_dir=tmp_path_factory.mktemp('run')).best_checkpoint
