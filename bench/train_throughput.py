"""Input-pipeline throughput, side by side in one run (issue 3).

(a) images/s delivered by tsic's training DataLoader alone (no model) vs a plain fastai PNG pipeline
    (`ImageDataLoaders.from_folder` + `aug_transforms`) on the same images;
(b) one training epoch through the real tsic Learner vs pure model compute (forward, backward, step) on the same
    batches pre-loaded on the device as normalised tensors;
(c) the same pure compute in NCHW instead of channels_last (is `channels_last: true` a win on this device?);
(d) with `--compile`, the same pure compute through `torch.compile`, and on a GPU through its CUDA-graph mode
    ('reduce-overhead'): do they pay for their compile time?

Runs unchanged on CPU or GPU:  python bench/train_throughput.py [--precision bf16-mixed] [--epoch-images 1280] [--quick]

`--overhead` (issue 29) measures instead what the training loop itself adds per batch: the same loader and batches
through (a) a bare PyTorch loop (normalise on the device, forward, loss, backward, torch's AdamW step, the run's
learning-rate schedule set per step) and (b) the tsic Learner with everything a default run has on (the macro-F1,
accuracy and per-class F1 metrics, the one-cycle schedule, staged unfreezing, TensorBoard scalars, the checkpoint
tracker), with timm's `test_resnet` at 32 px, whose step costs a few ms here, so what the loop adds is visible.
Training batches only (the validation pass and the per-epoch checkpoint are not per-batch costs), paired: in the
second epoch of each of `--repeats` fits, every tsic batch is followed by one bare step on the same kind of batch,
so the two times of a pair are milliseconds apart and the machine's drift cancels; the median of the paired
differences is the figure. Then a profile of one tsic epoch by callback and by function.
    python bench/train_throughput.py --overhead [--batch-size 64] [--repeats 5] [--json out.json] [--quick]
"""
import argparse, statistics, time, warnings
from pathlib import Path
import numpy as np, pandas as pd, torch
from fastai.vision.all import ImageDataLoaders, Resize, ResizeMethod, aug_transforms, default_device, set_seed, Callback

ROOT = Path(__file__).resolve().parents[1]


def sync(device):
    if device.type == 'cuda': torch.cuda.synchronize()


def rate(loader, device, max_batches=None, encode=None) -> float:
    "Images per second yielded by `loader` (optionally through `encode`), after one warm-up batch."
    it = iter(loader); next(it)
    n, start = 0, time.perf_counter()
    for i, (xb, yb) in enumerate(it):
        if encode is not None: xb = encode(xb)
        n += len(xb)
        if max_batches and i + 1 >= max_batches: break
    sync(device)
    return n / (time.perf_counter() - start)


class TrainTimer(Callback):
    "Wall time of each epoch's training phase (no validation, no checkpoint), and of its input pipeline alone."
    order = 100  # last: before_batch runs after the loader has delivered and the input stage has normalised
    def before_fit(self): self.times, self.input_times = [], []
    def before_train(self): sync(self.dls.device); self.t = self.last = time.perf_counter(); self.input = 0.
    def before_batch(self):
        if self.training: sync(self.dls.device); self.input += time.perf_counter() - self.last
    def after_batch(self):
        if self.training: sync(self.dls.device); self.last = time.perf_counter()
    def after_train(self):
        sync(self.dls.device); self.times.append(time.perf_counter() - self.t); self.input_times.append(self.input)


def pure_compute(learn, batches, device, precision, model=None) -> float:
    "Seconds for forward + backward + optimizer step over pre-loaded `batches`, with the learner's model (or `model`) and optimizer."
    model, opt, loss_func = model or learn.model, learn.opt, learn.loss_func
    dtype = {'bf16-mixed': torch.bfloat16, '16-mixed': torch.float16}.get(precision)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    model.train(); sync(device); start = time.perf_counter()
    for x, y in batches:
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            loss = loss_func(model(x), y)
        scaler.scale(loss).backward(); scaler.step(opt); scaler.update(); opt.zero_grad()
    sync(device)
    return time.perf_counter() - start


class CallbackClock:
    "Wall time in each callback's event methods (each wrapped with a clock while active), in ms per training batch."
    def __init__(self, callbacks): self.callbacks, self.spent, self.active = list(callbacks), {}, False
    def __enter__(self):
        from fastai.callback.core import event
        for cb in self.callbacks:
            for name in vars(event):
                method = getattr(type(cb), name, None)
                if callable(method): cb.__dict__[name] = self._timed(cb, name, method.__get__(cb))  # not setattr: fastai warns on shadowing
        return self
    def _timed(self, cb, name, method):
        def timed():
            start = time.perf_counter()
            try: return method()
            finally:
                if self.active:
                    key = (type(cb).__name__, name)
                    self.spent[key] = self.spent.get(key, 0.) + time.perf_counter() - start
        return timed
    def __exit__(self, *exc):
        for cb in self.callbacks:
            for name in [k for k, v in cb.__dict__.items() if getattr(v, '__name__', '') == 'timed']: del cb.__dict__[name]
    def table(self, batches: int) -> pd.DataFrame:
        rows = [{'callback': c, 'event': e, 'ms per batch': 1000 * t / batches} for (c, e), t in self.spent.items()]
        return pd.DataFrame(rows, columns=['callback', 'event', 'ms per batch']).sort_values('ms per batch', ascending=False).reset_index(drop=True)


def overhead(args):
    "Issue 29's measure: the tsic Learner's epoch against a bare PyTorch loop on the same loader, per batch."
    import cProfile, io, pstats, json, tempfile, shutil
    from tsic.config import load_config
    from tsic.sources import load_data, ensure_builtin_datasets
    from tsic.loaders import ChartInput
    from tsic.learner import chart_learner, RunSchedule, StagedUnfreezing, group_learning_rates, open_groups
    from tsic.models import layer_groups
    device = default_device()
    scratch = Path(tempfile.mkdtemp())
    cfg = load_config(ROOT / 'configs' / 'demo.yaml', data_dir=str(ROOT / 'data'), dataset_msft_dir=str(ROOT / 'data' / 'msft_1d_winsize40'),
                      model_architecture_name='test_resnet', pretrained=False, image_size=32, batch_size=args.batch_size,
                      precision=args.precision, max_epochs=10, tensorboard=True, cache_dir=str(scratch / 'cache'),
                      early_stopping_patience=10**6)  # every fit here runs its epochs
    ensure_builtin_datasets(cfg)
    data = load_data(cfg, args.epoch_images if args.quick else None)
    learn = chart_learner(data, cfg, scratch / 'ckpt', log_dir=scratch / 'tb', device=device)
    encoder = ChartInput.from_config(cfg)
    # the bare loop: the same model's starting weights, torch's AdamW on fastai's parameter groups with the same rates
    import copy
    bare_model = copy.deepcopy(learn.model)
    opt = torch.optim.AdamW([{'params': list(g)} for g in layer_groups(bare_model)], lr=cfg.lr_head, weight_decay=cfg.weight_decay)
    peak = group_learning_rates(cfg)
    def lr_at(i, n): return peak * (0.04 + 0.96 * min(1, i / (0.25 * n)))  # warm-up as one-cycle begins: a few flops per step
    loss_func, bare_loader = learn.loss_func, learn.dls.train.new()  # the bare loop's own loader: the same batches, drawn alike

    class PairedBare(Callback):
        """In tsic's timed epoch (the second of a fit: what happens once per fit is not per batch), after each training
        batch one step of the bare loop, on the next batch of its own loader: the machine's speed drifts by tens of
        percent over minutes (other tenants of its host), and two batches milliseconds apart see the same speed."""
        order = 101  # last: the tsic batch's time runs from the end of the bare step before it to here
        def __init__(self): self.pairs = []
        def before_train(self):
            self.active = self.epoch == 1
            if not self.active: return
            for mine, theirs in zip(bare_model.parameters(), self.learn.model.parameters()): mine.requires_grad_(theirs.requires_grad)  # what this epoch trains
            bare_model.train(); self.batches = iter(bare_loader); sync(device); self.mark = time.perf_counter()
        def after_batch(self):
            if not (self.active and self.learn.training): return
            sync(device); start = time.perf_counter()
            x, y = next(self.batches)
            y = y.as_subclass(torch.Tensor)  # a bare loop's plain tensors (fastai's TensorCategory would route every op through its dispatch)
            for group, lr in zip(opt.param_groups, lr_at(self.learn.iter, self.learn.n_iter)): group['lr'] = lr
            loss = loss_func(bare_model(encoder.encode(x, True)), y)
            loss.backward(); opt.step(); opt.zero_grad(set_to_none=True)
            sync(device); self.mark, tsic = time.perf_counter(), start - self.mark
            self.pairs.append((tsic, self.mark - start))

    fastai_cbs = lambda: [RunSchedule(cfg), StagedUnfreezing(cfg)]  # what fit_run adds; no timer of the bench's own on tsic's side (PairedBare times both)
    with learn.no_bar(), learn.no_logging(): learn.fit(2, cbs=[*fastai_cbs(), PairedBare()])  # warm-up (the machine's speed settles)
    pairs = []
    for i in range(args.repeats):
        with learn.no_bar(), learn.no_logging(): learn.fit(2, cbs=[*fastai_cbs(), paired := PairedBare()])
        pairs += paired.pairs
    batches, trained = len(learn.dls.train), sum(p.requires_grad for p in bare_model.parameters())
    tsic_ms, bare_ms = (1000 * np.array(t) for t in zip(*pairs))
    gaps = tsic_ms - bare_ms
    added, low, high = np.percentile(gaps, [50, 25, 75])
    mean, half = gaps.mean(), 1.96 * gaps.std(ddof=1) / np.sqrt(len(gaps))
    print(f"device {device}, test_resnet at 32 px, batch {args.batch_size}, {batches} training batches an epoch, {args.repeats} timed epochs; "
          f"both train the same {trained} parameter tensors (staged unfreezing has opened {open_groups(1, cfg)} backbone group at the timed epoch)")
    print(f"  bare PyTorch loop:  {np.median(bare_ms):7.2f} ms per batch (median of {len(pairs)} batches)")
    print(f"  tsic Learner:       {np.median(tsic_ms):7.2f} ms per batch (median of {len(pairs)} batches)")
    print(f"  added by the loop:  {added:7.2f} ms per batch (goal <= 0.3): the median of {len(pairs)} paired differences, quartiles "
          f"{low:.2f} to {high:.2f}; their mean {mean:.2f} (95% CI {mean - half:.2f} to {mean + half:.2f}: the slow batches, "
          f"such as each phase's first, weigh in it)")
    class SecondEpoch(Callback):
        order = -100  # first of all: the clock starts before any callback's before_epoch
        def before_epoch(self): clock.active = self.epoch == 1
    extra = [*fastai_cbs(), SecondEpoch()]
    with CallbackClock([*learn.cbs, *extra[:-1]]) as clock, learn.no_bar(), learn.no_logging(): learn.fit(2, cbs=extra)
    events = clock.table(batches)
    per_batch = events[~events.event.isin(['before_fit', 'after_fit', 'before_epoch', 'after_epoch', 'before_train', 'after_train',
                                             'before_validate', 'after_validate'])]
    print(f"\nwall time in each callback's per-batch events over one epoch (training and validation batches), ms per training batch "
          f"(total {per_batch['ms per batch'].sum():.2f}):")
    print(per_batch.head(15).round(3).to_string(index=False))
    profile = cProfile.Profile()
    class SecondTrainingPhase(Callback):  # the profiler on while the second epoch trains: no once-per-fit work in it
        order = 101
        def before_train(self):
            if self.epoch == 1: profile.enable()
        def after_train(self):
            if self.epoch == 1: profile.disable()
    with learn.no_bar(), learn.no_logging(): learn.fit(2, cbs=[*fastai_cbs(), SecondTrainingPhase()])
    out = io.StringIO(); pstats.Stats(profile, stream=out).sort_stats('tottime').print_stats(20)
    print("\nprofile of the training phase of one epoch (cProfile; its own overhead inflates the times), by function, own time:\n"
          + '\n'.join(out.getvalue().splitlines()[6:32]))
    if args.json:
        Path(args.json).write_text(json.dumps({'device': str(device), 'batch_size': args.batch_size, 'batches': batches, 'pairs': len(pairs),
                                               'bare_ms_per_batch': float(np.median(bare_ms)), 'tsic_ms_per_batch': float(np.median(tsic_ms)),
                                               'added_ms_per_batch': float(added), 'added_quartiles_ms': [float(low), float(high)],
                                               'added_mean_ms': float(mean), 'added_mean_ci95_ms': [float(mean - half), float(mean + half)],
                                               'callback_events': per_batch.to_dict('records')}, indent=1))
    shutil.rmtree(scratch)


def compiled_compute(learn, batches, device, args, eager: float):
    """(d) The pure compute of (b) with the model through `torch.compile` (Inductor), and on a GPU also its
    'reduce-overhead' mode, which replays the step's kernels as CUDA graphs: the compile time, then the same epoch."""
    import torch._dynamo
    modes = ['default'] + (['reduce-overhead'] if device.type == 'cuda' else [])
    print(f"\n(d) pure compute through torch.compile (eager: {eager:.2f} s)")
    for mode in modes:
        torch._dynamo.reset()
        compiled = torch.compile(learn.model, mode=mode)
        t = time.perf_counter(); pure_compute(learn, batches[:3], device, args.precision, compiled); first = time.perf_counter() - t
        took = statistics.median(pure_compute(learn, batches, device, args.precision, compiled) for _ in range(args.repeats))
        print(f"  mode {mode!r}: compiling and 3 batches {first:6.1f} s, then the epoch {took:8.2f} s "
              f"(eager / compiled: {eager / took:.2f}x)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--arch', default='resnet18'); ap.add_argument('--image-size', type=int, default=128)
    ap.add_argument('--batch-size', type=int, default=64); ap.add_argument('--precision', default='32')
    ap.add_argument('--plain-batches', type=int, default=20, help='batches of the plain fastai pipeline to time')
    ap.add_argument('--epoch-images', type=int, default=1280, help='training images in the timed epoch (b)')
    ap.add_argument('--repeats', type=int, default=5)
    ap.add_argument('--quick', action='store_true', help='32 px, batch 16, 64 images, one repeat: a check that the bench runs')
    ap.add_argument('--overhead', action='store_true', help="what the tsic loop adds per batch over a bare PyTorch loop (see above)")
    ap.add_argument('--json', help='--overhead: write the figures here')
    ap.add_argument('--compile', action='store_true', help='(d): the pure compute through torch.compile (and CUDA graphs on a GPU)')
    args = ap.parse_args()
    if args.overhead:
        if args.quick: args.batch_size, args.repeats, args.epoch_images = 16, 1, 64
        warnings.filterwarnings('ignore')
        return overhead(args)
    if args.quick: args.image_size, args.batch_size, args.plain_batches, args.epoch_images, args.repeats = 32, 16, 3, 64, 1
    warnings.filterwarnings('ignore')
    from tsic.config import load_config
    from tsic.sources import ensure_builtin_datasets, collect_samples, image_cache, load_data
    from tsic.readers import limit_samples
    from tsic.loaders import chart_dataloaders, ChartInput
    from tsic.learner import chart_learner
    import tempfile, shutil

    device = default_device()
    data_dir = ROOT / 'data'
    cfg = load_config(ROOT / 'configs' / 'demo.yaml', data_dir=str(data_dir), dataset_msft_dir=str(data_dir / 'msft_1d_winsize40'),
                      model_architecture_name=args.arch, pretrained=False, image_size=args.image_size,
                      batch_size=args.batch_size, precision=args.precision, max_epochs=1, tensorboard=False,
                      use_progressive_unfreezing=False)  # every group trains: the full cost of a step
    ensure_builtin_datasets(cfg)
    samples = collect_samples(cfg)
    n_train = int((samples.split == 'train').sum())
    print(f"device: {device} ({torch.cuda.get_device_name() if device.type == 'cuda' else f'{torch.get_num_threads()} CPU threads'}), "
          f"{args.arch} at {args.image_size} px, batch {args.batch_size}, precision {args.precision}, {n_train} training charts")

    # Decode-once cache: first build (from PNGs) and reuse
    scratch = Path(tempfile.mkdtemp())  # cache and checkpoints of this benchmark, removed at the end
    cache = scratch / 'cache'
    cfg.cache_dir = str(cache)
    t = time.perf_counter(); image_cache(samples.path.tolist(), cfg); build = time.perf_counter() - t
    t = time.perf_counter(); image_cache(samples.path.tolist(), cfg); reuse = time.perf_counter() - t
    data = load_data(cfg); dls = chart_dataloaders(data, cfg, device=device)
    print(f"\nimage cache: built from {len(samples)} PNGs in {build:.1f} s ({len(samples) / build:,.0f} images/s), reused in {reuse:.2f} s")

    # (a) loaders alone
    plain = ImageDataLoaders.from_folder(cfg.dataset_dir('msft'), train='train', valid='val', bs=args.batch_size, device=device,
                                         item_tfms=Resize(args.image_size, method=ResizeMethod.Squish), batch_tfms=aug_transforms())
    plain_rate = rate(plain.train, device, args.plain_batches)
    encoder = ChartInput.from_config(cfg)
    tsic_rates = [rate(dls.train, device) for _ in range(args.repeats)]
    tsic_norm = [rate(dls.train, device, encode=encoder.encode) for _ in range(args.repeats)]
    tsic_rate, norm_rate = statistics.median(tsic_rates), statistics.median(tsic_norm)
    print("\n(a) images/s delivered to the training device, no model")
    print(f"  plain fastai PNG pipeline (from_folder + aug_transforms, {args.plain_batches} batches): {plain_rate:10,.0f}")
    print(f"  tsic loader, uint8 batches on the device:                   {tsic_rate:10,.0f}  ({tsic_rate / plain_rate:,.0f}x plain)")
    print(f"  tsic loader + on-device normalisation (ChartInput):         {norm_rate:10,.0f}  ({norm_rate / plain_rate:,.0f}x plain)")

    # (b) one training epoch vs pure compute on the same batches
    train_rows = samples[samples.split == 'train']
    train_rows = train_rows.iloc[np.linspace(0, len(train_rows) - 1, min(args.epoch_images, len(train_rows))).astype(int)]
    sub = limit_samples(samples[samples.split == 'val'], args.batch_size)
    epoch_samples = pd.concat([train_rows, sub]).reset_index(drop=True)
    set_seed(0)
    epoch_data = data.select(data.samples.set_index('path').loc[epoch_samples.path].reset_index())
    learn = chart_learner(epoch_data, cfg, scratch / 'ckpt', device=device)
    edls = learn.dls
    batches = [(encoder.encode(x), y) for x, y in edls.train]
    with learn.no_bar(), learn.no_logging(): learn.fit(1, cbs=[TrainTimer()])
    pure_compute(learn, batches[:2], device, args.precision)  # warm-up
    pipeline, compute, inputs = [], [], []
    for i in range(args.repeats):  # interleaved, alternating which goes first, so drift in machine speed cancels
        timer = TrainTimer()
        if i % 2: compute.append(pure_compute(learn, batches, device, args.precision))
        with learn.no_bar(), learn.no_logging(): learn.fit(1, cbs=[timer])
        pipeline.append(timer.times[0]); inputs.append(timer.input_times[0])
        if not i % 2: compute.append(pure_compute(learn, batches, device, args.precision))
    n = sum(len(y) for _, y in batches)
    p, c = statistics.median(pipeline), statistics.median(compute)
    print(f"\n(b) one training epoch of {n} images ({len(batches)} batches), median of {args.repeats}")
    print(f"  real pipeline (tsic Learner, loader + input stage + callbacks): {p:8.2f} s  {n / p:8,.0f} images/s")
    print(f"  pure model compute on pre-loaded tensors:                        {c:8.2f} s  {n / c:8,.0f} images/s")
    print(f"  ratio pipeline / compute: {p / c:.3f}")
    i = statistics.median(inputs)
    print(f"  inside the real epoch, waiting for input (loader + on-device input stage): {i:.3f} s, "
          f"{1000 * i / len(batches):.1f} ms per batch = {100 * i / p:.2f}% of the epoch "
          f"(the ratio above also carries run-to-run noise of a few %)")

    # (c) memory format of the same compute: is channels_last a win on this device?
    contiguous = [(x.contiguous(), y) for x, y in batches]
    learn.model.to(memory_format=torch.contiguous_format); pure_compute(learn, contiguous[:2], device, args.precision)
    nchw = statistics.median(pure_compute(learn, contiguous, device, args.precision) for _ in range(args.repeats))
    print(f"\n(c) pure compute, NCHW (contiguous) instead of channels_last: {nchw:8.2f} s  "
          f"(channels_last is {nchw / c:.2f}x as fast)")
    learn.model.to(memory_format=torch.channels_last)
    if args.compile: compiled_compute(learn, batches, device, args, c)
    shutil.rmtree(scratch)


if __name__ == '__main__':
    main()
