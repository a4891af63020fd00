"""Behaviours around bad or unusual input that are not one bad input and its message (those are rows of
tests/test_bad_inputs.py): shipped configs load, hidden files are skipped and counted, a missing val/ is carved from
train with its purge gap, and pretrained weights that cannot be had are an error, not a random start."""
from pathlib import Path
import pandas as pd, pytest
from tsic.config import load_config
from tsic.sources import collect_samples
from conftest import ROOT, config_for


def test_both_shipped_configs_load():
    assert load_config(ROOT / 'configs' / 'config.yaml').model_architecture_name == 'efficientnet_b4'
    assert load_config(ROOT / 'configs' / 'demo.yaml').image_size < 380


def test_hidden_files_are_skipped_and_counted(dataset_copy, caplog):
    (dataset_copy / 'train' / 'up' / '.DS_Store').write_text('x')
    n = len(collect_samples(config_for(dataset_copy)))
    assert n == len(list(dataset_copy.rglob('*.png')))
    assert 'skipped 1 hidden files' in caplog.text


def test_missing_val_is_carved_from_train_with_purge_gap(dataset_copy):
    import shutil
    shutil.rmtree(dataset_copy / 'val'); (dataset_copy / 'manifest.json').unlink()  # a folder of one's own, without val/
    n_train = len(list((dataset_copy / 'train').rglob('*.png')))
    df = collect_samples(config_for(dataset_copy, purge_gap=10, val_fraction=0.2))
    train_, val = df[df.split == 'train'], df[df.split == 'val']
    assert len(val) == round(0.2 * n_train) and len(train_) == n_train - len(val) - 10
    assert train_.timestamp.max() < val.timestamp.min()
    stamps = sorted(pd.concat([train_, val]).timestamp)
    gap_rows = [t for t in stamps if train_.timestamp.max() < t < val.timestamp.min()]
    assert gap_rows == []  # the 10 purged charts are gone, not moved


def test_pretrained_without_weights_is_an_error_not_random_init():
    import huggingface_hub.constants
    huggingface_hub.constants.HF_HUB_OFFLINE = True  # offline as here: fail at once
    from tsic.backbones import create_classifier, PretrainedWeightsError
    with pytest.raises(PretrainedWeightsError, match='pretrained_path.*pretrained: false'):
        create_classifier(load_config(model_architecture_name='resnet18'))
