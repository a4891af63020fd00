"""Input-pipeline throughput, side by side in one run (issue 3).

(a) images/s delivered by tsic's training DataLoader alone (no model) vs a plain fastai PNG pipeline
    (`ImageDataLoaders.from_folder` + `aug_transforms`) on the same images;
(b) one training epoch through the real tsic Learner vs pure model compute (forward, backward, step) on the same
    batches pre-loaded on the device as normalised tensors;
(c) the same pure compute in NCHW instead of channels_last (is `channels_last: true` a win on this device?).

Runs unchanged on CPU or GPU:  python bench/train_throughput.py [--precision bf16-mixed] [--epoch-images 1280] [--quick]
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


def pure_compute(learn, batches, device, precision) -> float:
    "Seconds for forward + backward + optimizer step over pre-loaded `batches`, with the learner's model and optimizer."
    model, opt, loss_func = learn.model, learn.opt, learn.loss_func
    dtype = {'bf16-mixed': torch.bfloat16, '16-mixed': torch.float16}.get(precision)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    model.train(); sync(device); start = time.perf_counter()
    for x, y in batches:
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            loss = loss_func(model(x), y)
        scaler.scale(loss).backward(); scaler.step(opt); scaler.update(); opt.zero_grad()
    sync(device)
    return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--arch', default='resnet18'); ap.add_argument('--image-size', type=int, default=128)
    ap.add_argument('--batch-size', type=int, default=64); ap.add_argument('--precision', default='32')
    ap.add_argument('--plain-batches', type=int, default=20, help='batches of the plain fastai pipeline to time')
    ap.add_argument('--epoch-images', type=int, default=1280, help='training images in the timed epoch (b)')
    ap.add_argument('--repeats', type=int, default=5)
    ap.add_argument('--quick', action='store_true', help='32 px, batch 16, 64 images, one repeat: a check that the bench runs')
    args = ap.parse_args()
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
    shutil.rmtree(scratch)


if __name__ == '__main__':
    main()
