"""Two processes under torchrun (gloo, CPU) train one run: one set of files, the whole validation split behind every
score, a checkpoint that one process resumes, and an exact resume after a kill."""
import dataclasses, json, os, signal, socket, subprocess, sys, time
from pathlib import Path
import pytest, torch
from sklearn.metrics import f1_score
from tsic.config import load_config, save_config
from tsic.checkpoint import CHECKPOINT_FORMAT, load_checkpoint
from tsic.learner import chart_learner, BEST_GLOB
from tsic.sources import load_data
from conftest import ROOT, BIN, config_for

# Staged unfreezing (DistributedDataParallel is rebuilt when groups open), one-cycle, a balanced sampler,
# augmentation and dropout: what a resume on two processes has to restore on each of them.
SETTINGS = dict(max_epochs=3, early_stopping_patience=10, use_progressive_unfreezing=True, class_balance='sampler',
                augment=True, batch_size=15, auto_unfreeze={'stage1_epoch': 1, 'stage2_epoch': 2, 'stage3_epoch': 3})


def tsic_train(config: Path, run_dir: Path, *overrides: str, processes: int = 2, **kw):
    "`tsic train` under torchrun with `processes` (1: without a launcher)."
    cmd = [str(BIN / 'tsic'), 'train', '--config', str(config), '--run-dir', str(run_dir), *(f'--set={o}' for o in overrides)]
    if processes > 1: cmd = [str(BIN / 'torchrun'), '--standalone', f'--nproc_per_node={processes}', *cmd]
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True, **kw)


def finished(proc) -> str:
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, out[-4000:]
    return out


def free_port() -> int:
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


def one_process_learner(cfg, ckpt: dict, tmp_path: Path):
    "A learner in this one process on `cfg`'s whole data, with the checkpoint's weights; and the data."
    data = load_data(cfg)
    learn = chart_learner(data, cfg, tmp_path / 'unused')
    learn.model.load_state_dict(ckpt.weights)
    return learn, data


def last_epoch(folder: Path) -> int:
    try: return load_checkpoint(folder / 'last.ckpt').epoch
    except (FileNotFoundError, ValueError): return -1


@pytest.mark.slow
def test_two_processes_train_one_run_that_one_process_resumes(small_dataset, tmp_path):
    cfg = config_for(small_dataset, **SETTINGS)
    config = tmp_path / 'config.yaml'; save_config(cfg, config)
    run = tmp_path / 'run'
    out = finished(tsic_train(config, run))
    assert out.count('run folder') == 1, out  # rank 0 alone reports

    # one set of output files: rank 0's
    files = sorted(str(p.relative_to(run)) for p in run.rglob('*') if p.is_file())
    ckpt_dir = run / 'checkpoints' / 'single' / 'resnet18'
    best = list(ckpt_dir.glob(BEST_GLOB))
    assert len(best) == 1 and (ckpt_dir / 'last.ckpt').exists(), files
    assert sum('tfevents' in f for f in files) == 1, files
    assert {'config.yaml', 'metrics.json', 'training_curves.png', 'confusion_matrix.png', 'training_batch.png'} <= set(files), files
    assert len(files) == 8, files

    # the checkpoint format of one process: the same keys, plain (unwrapped) weights
    ckpt = load_checkpoint(best[0])
    assert torch.load(best[0], weights_only=True)['format'] == CHECKPOINT_FORMAT and not any(k.startswith('module.') for k in ckpt.weights)
    assert len(ckpt.progress.training['rng_ranks']) == 2 and ckpt.progress.training['rng'].keys() == ckpt.progress.training['rng_ranks'][1].keys()

    # the validation F1 and loss recorded are those of the best weights on the whole validation split, in one process
    metrics = json.loads((run / 'metrics.json').read_text())
    learn, data = one_process_learner(cfg, ckpt, tmp_path)
    probs, targets = learn.get_preds(ds_idx=1)
    assert len(targets) == len(data.rows('val'))
    f1 = f1_score(targets, probs.argmax(1), average='macro', labels=range(cfg.num_classes), zero_division=0)
    loss, f1_fastai = learn.validate(ds_idx=1)[:2]  # the loss as training computes it (the model's own loss function)
    assert metrics['best_val_f1'] == pytest.approx(f1, abs=1e-6) == ckpt.progress.val_f1 == pytest.approx(f1_fastai, abs=1e-6)
    assert ckpt.progress.val_loss == pytest.approx(loss, rel=1e-5)
    assert metrics['test']['support'] == len(data.rows('test'))  # the test split gathered whole, no row twice

    # one process resumes the two processes' checkpoint
    out = finished(tsic_train(config, run, 'max_epochs=4', 'resume_from_checkpoint=last.ckpt', processes=1))
    resumed = json.loads((run / 'metrics.json').read_text())
    assert [e['epoch'] for e in resumed['epochs']] == [0, 1, 2, 3] and resumed['epochs_this_run'] == [3]
    assert resumed['epochs'][:3] == metrics['epochs'] and resumed['resumed_from'].endswith('last.ckpt')




@pytest.mark.slow
def test_fused_model_with_class_weights_accumulation_and_agc_on_two_processes(small_dataset, tmp_path):
    "The fused model (its auxiliary heads unused), weighted loss, gradient accumulation and AGC under DistributedDataParallel."
    from test_resume import multi_settings
    cfg = config_for(small_dataset, **multi_settings(small_dataset), max_epochs=2, class_balance='weights', use_agc=True,
                     accumulate_grad_batches=2, batch_size=12, tensorboard=False)
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, aux_loss_weight=0.0))
    config = tmp_path / 'config.yaml'; save_config(cfg, config)
    finished(tsic_train(config, tmp_path / 'run'))
    ckpt = load_checkpoint(tmp_path / 'run' / 'checkpoints' / 'multi' / 'resnet18' / 'last.ckpt')
    loss, f1 = one_process_learner(cfg, ckpt, tmp_path)[0].validate(ds_idx=1)[:2]
    assert ckpt.progress.val_f1 == pytest.approx(f1, abs=1e-6) and ckpt.progress.val_loss == pytest.approx(loss, rel=1e-5)  # weighted loss, as one process


@pytest.mark.slow
def test_two_processes_killed_then_resumed_end_where_an_uninterrupted_run_ends(small_dataset, tmp_path):
    cfg = config_for(small_dataset, **SETTINGS, tensorboard=False)
    config = tmp_path / 'config.yaml'; save_config(cfg, config)
    straight, killed = tmp_path / 'straight', tmp_path / 'killed'
    finished(tsic_train(config, straight))
    proc = tsic_train(config, killed)
    folder = killed / 'checkpoints' / 'single' / 'resnet18'
    deadline = time.time() + 600
    while last_epoch(folder) < 1:  # kill the launcher and both workers after epoch 1 is saved
        assert proc.poll() is None and time.time() < deadline, proc.stdout.read()[-3000:] if proc.poll() is not None else 'timeout'
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL); proc.wait()
    assert last_epoch(folder) < cfg.max_epochs - 1
    finished(tsic_train(config, killed, 'resume_from_checkpoint=last.ckpt'))
    a = load_checkpoint(straight / 'checkpoints' / 'single' / 'resnet18' / 'last.ckpt')
    b = load_checkpoint(folder / 'last.ckpt')
    assert a.epoch == b.epoch == cfg.max_epochs - 1
    for k in a.weights: assert torch.equal(a.weights[k], b.weights[k]), k
    assert a.progress.tracker['history'] == b.progress.tracker['history']


@pytest.mark.slow
def test_accelerate_launch_and_papermill_under_torchrun_run_one_distributed_run_each(small_dataset, tmp_path):
    "accelerate launch trains on charts drawn per batch from the bars (image_cache: none), each process drawing its own share."
    from tsic.bars import load_msft
    csv = tmp_path / 'm4.csv'; load_msft().iloc[:400].to_csv(csv)
    drawn = config_for(small_dataset, max_epochs=1, tensorboard=False, data_source='series', datasets=['m4'], image_size=48,
                       build={'sources': {'m4': str(csv)}}, image_cache='none', cache_dir=str(tmp_path / 'cache'))
    cfg = config_for(small_dataset, max_epochs=1, tensorboard=False)
    config, drawn_config = tmp_path / 'config.yaml', tmp_path / 'drawn.yaml'
    save_config(cfg, config); save_config(drawn, drawn_config)
    env = {**os.environ, 'PATH': f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    runs = {'accelerate': tmp_path / 'accelerate', 'papermill': tmp_path / 'papermill'}
    accelerate = [str(BIN / 'accelerate'), 'launch', '--multi_gpu', '--num_processes', '2', '--num_machines', '1', '--mixed_precision', 'no',
                  '--dynamo_backend', 'no', '--main_process_port', str(free_port()), '--no_python', 'tsic', 'train', '--config', str(drawn_config), '--run-dir', str(runs['accelerate'])]
    report = f"papermill nbs/train.ipynb {tmp_path}/report-$RANK.ipynb -p config {config} -p run_dir {runs['papermill']}"
    papermill = [str(BIN / 'torchrun'), '--standalone', '--nproc-per-node', '2', '--no-python', 'bash', '-c', report]
    for cmd in (accelerate, papermill):
        out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
        assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    for run in runs.values():
        ckpt = load_checkpoint(run / 'checkpoints' / 'single' / 'resnet18' / 'last.ckpt')
        assert len(ckpt.progress.training['rng_ranks']) == 2  # two processes trained it
        assert len(list(run.rglob('*.ckpt'))) == 2 and (run / 'metrics.json').exists()
    assert sorted(p.name for p in tmp_path.glob('report-*.ipynb')) == ['report-0.ipynb', 'report-1.ipynb']
    assert not (tmp_path / 'cache').exists()  # no image was stored


def test_the_slurm_script_starts_torchrun_on_every_node_and_resumes_a_requeued_job(tmp_path):
    from tsic.cli import build_parser
    bin_dir = tmp_path / 'bin'; bin_dir.mkdir()
    # scontrol prints a long host list: a reader of the first line that exits early would kill the script (SIGPIPE, 141)
    stubs = {'scontrol': 'printf "gpu-a\\ngpu-b\\n"; seq -f "gpu-%g" 200000', 'srun': 'exec "$@"', 'torchrun': f'printf "%s\\n" "$@" > {tmp_path}/torchrun.args'}
    for name, body in stubs.items():
        (bin_dir / name).write_text(f'#!/bin/bash\n{body}\n'); (bin_dir / name).chmod(0o755)
    env = {**os.environ, 'PATH': f"{bin_dir}{os.pathsep}{os.environ['PATH']}", 'SLURM_JOB_ID': '77', 'SLURM_NNODES': '2',
           'SLURM_JOB_NODELIST': 'gpu-[a-b]', 'SLURM_CPUS_PER_TASK': '32', 'RUN_DIR': str(tmp_path / 'run')}
    def launched(*extra: str) -> list[str]:
        subprocess.run(['bash', str(ROOT / 'examples' / 'slurm' / 'train.sbatch'), *extra], cwd=ROOT, env=env, check=True)
        return (tmp_path / 'torchrun.args').read_text().splitlines()
    args = launched('--set', 'max_epochs=40')
    assert args[:args.index('--no-python')] == ['--nnodes', '2', '--nproc-per-node', '4', '--rdzv-id', '77', '--rdzv-backend', 'c10d',
                                                 '--rdzv-endpoint', 'gpu-a:29500']
    tsic = args[args.index('--no-python') + 1:]
    assert tsic[0] == 'tsic'
    parsed = build_parser().parse_args(tsic[1:])
    assert (parsed.command, parsed.config, parsed.run_dir, parsed.overrides) == ('train', 'configs/config.yaml', str(tmp_path / 'run'), ['max_epochs=40'])
    (tmp_path / 'run' / 'checkpoints' / 'single' / 'resnet18').mkdir(parents=True)
    (tmp_path / 'run' / 'checkpoints' / 'single' / 'resnet18' / 'last.ckpt').write_bytes(b'')
    assert build_parser().parse_args(launched()[args.index('--no-python') + 2:]).overrides == ['resume_from_checkpoint=last.ckpt']
