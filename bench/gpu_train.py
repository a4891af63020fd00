"""Real training runs on a GPU (the device check of tsic's CUDA path): the demo recipe through `train()` in each precision,
single and multi mode, with time per epoch, test macro F1 and the causal baselines; and a small checkpoint made on the GPU
that a CPU-only machine then loads, predicts with and resumes (`--small-checkpoint DIR`).

    python bench/gpu_train.py --precision bf16-mixed 32 --modes single multi --epochs 6 --out DIR
    python bench/gpu_train.py --quick --out DIR     # every step on this machine's CPU: a tiny random-init network, 1 epoch
"""
import argparse, gc, json, os, shutil, statistics, time, warnings
from pathlib import Path
import torch

ROOT = Path(__file__).resolve().parents[1]


def demo_config(**overrides):
    "configs/demo.yaml (its data paths are relative to the repository root) with `overrides`."
    from tsic.config import load_config
    return load_config(ROOT / 'configs' / 'demo.yaml', **overrides)


def sync():
    if torch.cuda.is_available(): torch.cuda.synchronize()


def install_epoch_timer():
    "Give every fastai Learner a callback that times each epoch (device synchronised), apart from data loading and scoring."
    from fastai.callback.core import Callback
    from fastai.learner import defaults
    class EpochTimer(Callback):
        order = -100  # first in, last out
        def before_fit(self):
            if not hasattr(self, 'times'): self.times, self.start = [], None
        def before_train(self): sync(); self.start = time.perf_counter()  # a training epoch (get_preds has none)
        def after_validate(self):
            if self.start is None: return
            sync(); self.times.append(time.perf_counter() - self.start); self.start = None
    defaults.callbacks = [*defaults.callbacks, EpochTimer]


def timed_run(cfg, run_dir: Path, sample_limit=None) -> dict:
    "One `train()` run: wall time, epochs, best validation F1, test macro F1 and the best causal baseline's."
    from tsic.train import train
    gc.collect()
    if torch.cuda.is_available(): torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated() if torch.cuda.is_available() else 0
    sync(); start = time.perf_counter()
    result = train(cfg, run_dir=run_dir, sample_limit=sample_limit)
    sync(); seconds = time.perf_counter() - start
    tracker, epochs = result.learn.tracker(), result.learn.epoch_timer.times
    best_baseline = max(result.baselines.items(), key=lambda kv: kv[1]['macro_f1'])
    return {'mode': cfg.model_mode, 'precision': cfg.precision, 'arch': cfg.model_architecture_name, 'seconds': round(seconds, 1),
            'epochs': len(epochs), 'first_epoch_s': round(epochs[0], 2),
            'later_epoch_s': round(statistics.median(epochs[1:]), 2) if len(epochs) > 1 else None,
            'outside_epochs_s': round(seconds - sum(epochs), 1),  # data, model, scoring, report
            'best_val_f1': round(tracker.best_f1, 4), 'test_macro_f1': round(result.test['macro_f1'], 4),
            'best_baseline': best_baseline[0], 'baseline_macro_f1': round(best_baseline[1]['macro_f1'], 4),
            'peak_gpu_mib': round((torch.cuda.max_memory_allocated() - base) / 2**20) if torch.cuda.is_available() else None}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--precision', nargs='+', default=['bf16-mixed', '32'])
    ap.add_argument('--modes', nargs='+', default=['single', 'multi'])
    ap.add_argument('--epochs', type=int, default=6)
    ap.add_argument('--out', default='gpu-train')
    ap.add_argument('--sample-limit', type=int, help='at most this many charts per split (a quick dry run)')
    ap.add_argument('--small-checkpoint', help='also train a 1-epoch MobileNetV3 run in bf16 and copy its best checkpoint here')
    ap.add_argument('--quick', action='store_true', help="every step, small: 32-px charts, timm's test_resnet from scratch, 1 epoch, "
                    "40 charts per split, fp32 and bf16-mixed (on a CPU too)")
    args = ap.parse_args()
    quick = dict(image_size=32, model_architecture_name='test_resnet', pretrained=False, batch_size=16) if args.quick else {}
    if args.quick: args.epochs, args.sample_limit = 1, args.sample_limit or 40
    os.chdir(ROOT)
    warnings.filterwarnings('ignore')
    from tsic.sources import ensure_builtin_datasets
    out = Path(args.out)
    install_epoch_timer()
    out.mkdir(parents=True, exist_ok=True)
    ensure_builtin_datasets(demo_config())
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else 'CPU (no CUDA device: a dry run of the script)'
    print(f"{device}, torch {torch.__version__}", flush=True)
    rows = []
    for mode in args.modes:
        for precision in args.precision:
            cfg = demo_config(model_mode=mode, precision=precision, max_epochs=args.epochs, tensorboard=False, **quick)
            rows.append(timed_run(cfg, out / f'run-{mode}-{precision}', args.sample_limit))
            print(json.dumps(rows[-1]), flush=True)
    (out / 'runs.json').write_text(json.dumps(rows, indent=1))
    if args.small_checkpoint:
        cfg = demo_config(precision='bf16-mixed', max_epochs=1, tensorboard=False, pretrained=False,
                          model_architecture_name='mobilenetv3_small_050', image_size=64, use_progressive_unfreezing=False)
        run = out / 'run-small'
        print(json.dumps(timed_run(cfg, run, args.sample_limit)), flush=True)
        target = Path(args.small_checkpoint); target.mkdir(parents=True, exist_ok=True)
        best = json.loads((run / 'metrics.json').read_text())['best_checkpoint']
        shutil.copy(best, target / 'small.ckpt')  # a plain name: the device tool brings back only [A-Za-z0-9._-] names
        shutil.copy(run / 'config.yaml', target / 'config.yaml')


if __name__ == '__main__':
    main()
