"""Bad input gets a clear error naming the file or key, never a silent drop."""
import re
from pathlib import Path
import pandas as pd, pytest, yaml
from tsic.config import load_config, ConfigError
from tsic.sources import collect_samples, check_images, ChartDataError
from tsic.train import train
from conftest import ROOT, config_for


def first_png(folder: Path, split='train') -> Path:
    return sorted((folder / split).rglob('*.png'))[0]


def test_unknown_config_key_in_yaml(tmp_path):
    cfg = yaml.safe_load((ROOT / 'configs' / 'config.yaml').read_text())
    cfg['early_stoping_patience'] = cfg.pop('early_stopping_patience')
    path = tmp_path / 'config.yaml'; path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(ConfigError, match="Unknown config key 'early_stoping_patience'. Did you mean 'early_stopping_patience'"):
        load_config(path)


def test_wrong_type_names_the_key(tmp_path):
    path = tmp_path / 'config.yaml'; path.write_text('transformer:\n  heads: four\n')
    with pytest.raises(ConfigError, match=r'transformer\.heads: expected int'):
        load_config(path)


def test_both_shipped_configs_load():
    assert load_config(ROOT / 'configs' / 'config.yaml').model_architecture_name == 'efficientnet_b4'
    assert load_config(ROOT / 'configs' / 'demo.yaml').image_size < 380


def test_corrupt_png_found_by_check_data(dataset_copy):
    bad = first_png(dataset_copy); bad.write_bytes(bad.read_bytes()[:60])
    with pytest.raises(ChartDataError, match=re.escape(str(bad))):
        check_images(collect_samples(config_for(dataset_copy)))


def test_corrupt_png_during_training_names_the_file(dataset_copy, tmp_path):
    bad = first_png(dataset_copy, 'val'); bad.write_bytes(b'\x89PNG\r\n\x1a\nbroken')
    with pytest.raises(ChartDataError, match=re.escape(bad.name)):
        train(config_for(dataset_copy), run_dir=tmp_path / 'run')


def test_label_in_name_disagrees_with_folder(dataset_copy):
    f = first_png(dataset_copy)
    k = int(f.stem[-1]); wrong = f.with_name(f.name.replace(f'_label_{k}', f'_label_{(k + 1) % 3}'))
    f.rename(wrong)
    with pytest.raises(ChartDataError, match=re.escape(str(wrong)) + '.*name says label'):
        collect_samples(config_for(dataset_copy))


def test_misnamed_file(dataset_copy):
    f = first_png(dataset_copy); odd = f.with_name('chart_0001.png'); f.rename(odd)
    with pytest.raises(ChartDataError, match='chart_0001.png: expected a name like'):
        collect_samples(config_for(dataset_copy))


def test_non_image_file(dataset_copy):
    stray = first_png(dataset_copy).with_name('notes.txt'); stray.write_text('x')
    with pytest.raises(ChartDataError, match='notes.txt: not an image file'):
        collect_samples(config_for(dataset_copy))


def test_empty_class_folder(dataset_copy):
    folder = dataset_copy / 'test' / 'up'
    for f in folder.iterdir(): f.unlink()
    with pytest.raises(ChartDataError, match=re.escape(str(folder)) + ': class folder is empty'):
        collect_samples(config_for(dataset_copy))


def test_unknown_class_folder(dataset_copy):
    (dataset_copy / 'train' / 'sideways').mkdir()
    with pytest.raises(ChartDataError, match="unknown class folder 'sideways'"):
        collect_samples(config_for(dataset_copy))


def test_missing_dataset_folder(tmp_path):
    with pytest.raises(ChartDataError, match='folder .* not found'):
        collect_samples(config_for(tmp_path / 'nowhere'))


def test_hidden_files_are_skipped_and_counted(dataset_copy, caplog):
    (dataset_copy / 'train' / 'up' / '.DS_Store').write_text('x')
    n = len(collect_samples(config_for(dataset_copy)))
    assert n == len(list(dataset_copy.rglob('*.png')))
    assert 'skipped 1 hidden files' in caplog.text


def test_missing_val_is_carved_from_train_with_purge_gap(dataset_copy):
    import shutil
    shutil.rmtree(dataset_copy / 'val')
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
