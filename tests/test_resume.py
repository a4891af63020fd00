"""A run killed with SIGKILL and resumed ends exactly where the uninterrupted run ends."""
import json, os, signal, subprocess, sys, time
from pathlib import Path
import pytest, torch
from tsic.config import save_config
from tsic.checkpoint import load_checkpoint
from conftest import ROOT, config_for

# Staged unfreezing, the one-cycle schedule, a balanced sampler, augmentation and dropout: every random and
# scheduled state a resume has to restore.
SETTINGS = dict(max_epochs=5, early_stopping_patience=10, use_progressive_unfreezing=True, class_balance='sampler',
                augment=True, auto_unfreeze={'stage1_epoch': 1, 'stage2_epoch': 2, 'stage3_epoch': 3}, tensorboard=False)
RUN = "import sys; from tsic.config import load_config; from tsic.train import train; train(load_config(sys.argv[1]), run_dir=sys.argv[2])"


def start(config: Path, run_dir: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, '-c', RUN, str(config), str(run_dir)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def last_epoch(ckpt_dir: Path) -> int:
    try: return load_checkpoint(ckpt_dir / 'last.ckpt').epoch
    except (FileNotFoundError, ValueError): return -1


def multi_settings(dataset: Path) -> dict:
    "Multi mode on the fixture's own features CSV, with auxiliary heads."
    features = ['log_return', 'hl_range', 'oc_return', 'volume_change', 'ma5_gap', 'ma20_gap', 'volatility20']
    return dict(model_mode='multi', model={'aux_loss_weight': 0.3},
                timeseries={'data_path': str(dataset.parent / 'msft_1d_features.csv'), 'feature_columns': features},
                transformer={'dim': 16, 'layers': 1, 'heads': 2, 'dropout': 0.1, 'ff_dim': 32})


# slow (41 s in single mode): the fast set keeps nbs/06a_learner's interrupt-and-resume check in one process, and
# keeps `make test` within its 10 minutes; here a real SIGKILL between processes, run by `make test-slow`
@pytest.mark.slow
@pytest.mark.parametrize('mode', ['single', 'multi'])
def test_sigkill_then_resume_matches_uninterrupted_run(small_dataset, tmp_path, mode):
    extra = multi_settings(small_dataset) if mode == 'multi' else {}
    cfg = config_for(small_dataset, **SETTINGS, **extra)
    config = tmp_path / 'config.yaml'; save_config(cfg, config)
    straight, killed = tmp_path / 'straight', tmp_path / 'killed'
    proc = start(config, straight)
    assert proc.wait(timeout=600) == 0, proc.stderr.read()[-3000:]

    ckpt_dir = killed / 'checkpoints' / mode / 'resnet18'
    proc = start(config, killed)
    while last_epoch(ckpt_dir) < 1:
        assert proc.poll() is None, f"the run ended before it could be killed: {proc.stderr.read()[-2000:]}"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL); proc.wait()
    killed_after = last_epoch(ckpt_dir)
    assert 1 <= killed_after < SETTINGS['max_epochs'] - 1, killed_after
    assert not (killed / 'metrics.json').exists()

    save_config(config_for(small_dataset, **SETTINGS, **extra, resume_from_checkpoint='last.ckpt'), config)
    proc = start(config, killed)
    assert proc.wait(timeout=600) == 0, proc.stderr.read()[-3000:]

    a, b = (json.loads((run / 'metrics.json').read_text()) for run in (straight, killed))
    assert b['resumed_from'].endswith('last.ckpt') and a['resumed_from'] is None
    assert [e['epoch'] for e in b['epochs']] == list(range(SETTINGS['max_epochs']))
    # the resumed process trained only the epochs after the kill (a resume that restarted would train them all)
    assert a['epochs_this_run'] == list(range(SETTINGS['max_epochs']))
    assert b['epochs_this_run'] == list(range(killed_after + 1, SETTINGS['max_epochs']))
    for ea, eb in zip(a['epochs'], b['epochs']):
        assert ea.keys() == eb.keys()
        for k in ea: assert ea[k] == pytest.approx(eb[k], abs=1e-5), (ea['epoch'], k)
    assert a['test']['macro_f1'] == pytest.approx(b['test']['macro_f1']) and a['confusion_matrix'] == b['confusion_matrix']
    assert a['best_epoch'] == b['best_epoch']
    wa, wb = (load_checkpoint(run / 'checkpoints' / mode / 'resnet18' / 'last.ckpt').weights for run in (straight, killed))
    for k in wa: torch.testing.assert_close(wa[k], wb[k], atol=1e-5, rtol=1e-5)


def test_resume_refuses_incompatible_checkpoints(small_dataset, tmp_path):
    from tsic.train import train
    run = tmp_path / 'run'
    train(config_for(small_dataset, tensorboard=False), run_dir=run)
    ckpt = run / 'checkpoints' / 'single' / 'resnet18' / 'last.ckpt'
    with pytest.raises(ValueError, match='model_architecture_name'):
        train(config_for(small_dataset, model_architecture_name='resnet34', resume_from_checkpoint=str(ckpt)), run_dir=tmp_path / 'b')
    with pytest.raises(ValueError, match='class_names'):
        train(config_for(small_dataset, num_classes=2, class_names=['down', 'up'], resume_from_checkpoint=str(ckpt)),
              run_dir=tmp_path / 'c')
    with pytest.raises(FileNotFoundError, match='last.ckpt'):
        train(config_for(small_dataset, resume_from_checkpoint='lst.ckpt'), run_dir=run)


SAVER = """
import sys, torch
from tsic.config import load_config
from tsic.checkpoint import Checkpoint, Provenance, TrainingProgress
net, cfg = torch.nn.Linear(2000, 2000), load_config()
for i in range(10**6):
    torch.nn.init.constant_(net.weight, float(i))
    Checkpoint.of(net, cfg, Provenance('given'), progress=TrainingProgress(i)).save(sys.argv[1])
"""


@pytest.mark.parametrize('delay', [0.8, 1.7, pytest.param(1.3, marks=pytest.mark.slow), pytest.param(2.2, marks=pytest.mark.slow)])
def test_kill_during_checkpoint_writes_never_leaves_a_corrupt_file(tmp_path, delay):
    "A process saving 16 MB checkpoints back to back, killed at an arbitrary moment: last.ckpt is always whole."
    target = tmp_path / 'last.ckpt'
    proc = subprocess.Popen([sys.executable, '-c', SAVER, str(target)], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    def saved() -> int | None:  # the inode of last.ckpt: each save renames a new file into place
        try: return target.stat().st_ino
        except FileNotFoundError: return None
    def wait_until(done):
        while not done():
            assert proc.poll() is None, proc.stderr.read()[-2000:]
            time.sleep(0.01)
    wait_until(lambda: saved() is not None)
    first = saved()
    wait_until(lambda: saved() not in (None, first))  # the second save has landed (epoch >= 1), however slow the disk
    time.sleep(delay)
    os.kill(proc.pid, signal.SIGKILL); proc.wait()
    ckpt = load_checkpoint(target)
    assert ckpt.epoch >= 1 and torch.all(ckpt.weights['weight'] == ckpt.epoch)
