"""Files that are not tsic checkpoints, given to `tsic predict`, `tsic export`, a resumed `train` and `evaluate`: one short message."""
import subprocess, zipfile
import numpy as np, pytest, torch, PIL.Image
from conftest import BIN, config_for

FIX = "give a .ckpt written by tsic training (runs/<name>/checkpoints/<mode>/<arch>/last.ckpt or its best-F1 file)"
KINDS = {'random.ckpt': 'unreadable bytes', 'chart.png': 'a PNG image', 'notes.txt': 'a text file',
         'other.zip': 'a zip archive that is not a PyTorch file', 'plain.pt': "a PyTorch file without tsic's 'format' key (keys: x)",
         'empty.ckpt': 'an empty file'}


@pytest.fixture
def bad_files(tmp_path):
    "Each kind of file a user might give instead of a checkpoint."
    (tmp_path / 'random.ckpt').write_bytes(np.random.default_rng(0).bytes(4096))
    PIL.Image.new('RGB', (48, 48), 'white').save(tmp_path / 'chart.png')
    (tmp_path / 'notes.txt').write_text('best epoch 3, val_f1 0.61\n')
    with zipfile.ZipFile(tmp_path / 'other.zip', 'w') as z: z.writestr('readme.txt', 'not a model')
    torch.save({'x': 1}, tmp_path / 'plain.pt')
    (tmp_path / 'empty.ckpt').touch()
    return {tmp_path / name: kind for name, kind in KINDS.items()}


def message(path, kind) -> str: return f"{path}: not a tsic checkpoint ({kind}); {FIX}"


def test_predict_and_export_print_one_line(bad_files, tmp_path, capsys):
    from tsic.cli import main
    (tmp_path / 'bars.csv').write_text('timestamp,open,high,low,close,volume\n2020-01-01,1,1,1,1,1\n')
    for path, kind in bad_files.items():
        for command, *rest in (('predict', tmp_path / 'bars.csv'), ('export', tmp_path / 'model.pt')):
            with pytest.raises(SystemExit) as exit: main([command, str(path), *map(str, rest)])
            assert exit.value.code == 2
            assert capsys.readouterr().err == f"tsic {command}: error: {message(path, kind)}\n"
    assert not (tmp_path / 'model.pt').exists()
    proc = subprocess.run([str(BIN / 'tsic'), 'predict', str(tmp_path / 'plain.pt'), str(tmp_path / 'bars.csv')],
                          capture_output=True, text=True, timeout=300)  # as a shell sees it: no traceback, no unsafe advice
    assert proc.returncode == 2 and proc.stderr.endswith(f"tsic predict: error: {message(tmp_path / 'plain.pt', KINDS['plain.pt'])}\n")
    assert 'Traceback' not in proc.stderr and 'weights_only' not in proc.stderr


def test_resume_from_an_unreadable_last_checkpoint(bad_files, tmp_path):
    from tsic.train import train
    cfg = config_for(tmp_path / 'data', resume_from_checkpoint='last.ckpt')
    folder = tmp_path / 'run' / 'checkpoints' / 'single' / 'resnet18'
    folder.mkdir(parents=True)
    for path, kind in bad_files.items():
        (folder / 'last.ckpt').write_bytes(path.read_bytes())
        with pytest.raises(ValueError) as error: train(cfg, run_dir=tmp_path / 'run')
        assert str(error.value) == message(folder / 'last.ckpt', kind)
        assert error.value.__notes__ == [f"tsic left the run folder {tmp_path / 'run'} as it was"]
        assert (folder / 'last.ckpt').read_bytes() == path.read_bytes()


def test_evaluate_and_store_offsets_refuse_and_leave_the_file(bad_files, tmp_path):
    from tsic.evaluate import evaluate, store_offsets
    for path, kind in bad_files.items():
        before = path.read_bytes()
        with pytest.raises(ValueError) as error: evaluate(path, out_dir=tmp_path / 'eval')
        assert str(error.value) == message(path, kind)
        with pytest.raises(ValueError) as error: store_offsets(path, np.zeros(3), {})
        assert str(error.value) == message(path, kind)
        assert path.read_bytes() == before
    assert not (tmp_path / 'eval').exists()
