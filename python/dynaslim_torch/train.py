"""DynaSlim's training methods in PyTorch, on a GPU or CPU, in one process or many (torchrun + DDP), writing
a DynaSlim run directory that `dynaslim eval`, `bench infer` and `report` read unchanged.

  python3 -m dynaslim_torch.train --dataset cifar10 --data DIR --model resnet20 --epochs 100 --out runs/NAME
  torchrun --nproc_per_node 2 -m dynaslim_torch.train ...          (2 processes; gloo on CPU, NCCL on GPUs)

Methods (the Swift trainer's recipes, the same options): dense (optionally --sparsity L1 on the gated BN gammas:
Network Slimming's stage 1), --method slimmable (sandwich rule: full width, the narrowest and two random
|gamma|-prefix widths, the narrower ones distilled from the full width's softmax; running BN statistics follow the
full width), --method dynamic (threshold predictor + gate rule, --rate-target variance | uniform | oracle with
--oracle-rates FILE), --method fbs (--density). --from CKPT starts from a checkpoint (a thinned one fine-tunes static
NS); --teacher CKPT --kd-alpha A --kd-temperature T distils from a frozen dense model.

Schedule: cosine from --lr to 0 per step (fractional epochs), SGD momentum 0.9, weight decay 5e-4 on every
parameter, batch --batch-size (global: split across processes), random crop (4-pixel zero padding) + horizontal
flip, DynaSlim's normalization (per-channel mean / std of the training images). --amp (bfloat16 autocast) and
--channels-last are GPU options.

Run directory: config.json, metrics.jsonl (DynaSlim's keys), model.safetensors (DynaSlim's metadata), and
torch-resume.pt (weights, momentum, progress, metrics: the epoch's commit point, replaced atomically; --resume
continues from it and rewrites the derived files).
"""
import argparse
import io
import json
import math
import os
import time

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

from . import checkpoint as ckpt
from . import data as datasets
from .distributed import GlobalBatchNorm2d, all_sum, setup
from .dynamic import DynamicNet
from .fbs import FBSNet
from .gates import scheduled_target
from .models import build_model, gated_layers


def parse(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="cifar10", choices=["cifar10", "fashion-mnist"])
    ap.add_argument("--data", help="dataset directory (default: ../shared/data/cifar-10-batches-bin or Debian's Fashion-MNIST)")
    ap.add_argument("--model", default="resnet20")
    ap.add_argument("--from", dest="init", help="start from this checkpoint (its architecture, widths and weights)")
    ap.add_argument("--method", default="dense", choices=["dense", "slimmable", "dynamic", "fbs"])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--batch-size", type=int, default=128, help="global batch (split across processes)")
    ap.add_argument("--weight-decay", type=float, default=5e-4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sparsity", type=float, default=0.0, help="L1 weight on the gated BN gammas (Network Slimming)")
    ap.add_argument("--teacher"), ap.add_argument("--kd-alpha", type=float, default=0.9), ap.add_argument("--kd-temperature", type=float, default=4.0)
    ap.add_argument("--min-width", type=float, default=0.25), ap.add_argument("--random-widths", type=int, default=2)
    ap.add_argument("--target", type=float, default=0.5), ap.add_argument("--rate-target", default="variance", choices=["variance", "uniform", "oracle"])
    ap.add_argument("--epoch-ratio", type=float, default=0.5)
    ap.add_argument("--oracle-rates", help="the oracle rule's labels: a Swift run's oracle-rates.safetensors, or raw float32, one per training image")
    ap.add_argument("--density", type=float, default=0.5)
    ap.add_argument("--limit-train", type=int, default=0, help="use the first N training images (tests, smoke runs)")
    ap.add_argument("--limit-test", type=int, default=0)
    ap.add_argument("--amp", action="store_true", help="bfloat16 autocast on a GPU")
    ap.add_argument("--channels-last", action="store_true", help="NHWC memory format on a GPU")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads per process (0: torch's default)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--stop-after", type=int, default=0, help="stop after this many epochs in this process (tests of --resume)")
    a = ap.parse_args(argv)
    for name, v, lo, hi in [("--epochs", a.epochs, 1, 100000), ("--batch-size", a.batch_size, 1, 1 << 16), ("--lr", a.lr, 0, 10),
                            ("--kd-alpha", a.kd_alpha, 0, 1), ("--density", a.density, 1e-6, 1), ("--min-width", a.min_width, 1e-6, 1),
                            ("--target", a.target, 0, 1)]:
        if not (lo <= v <= hi):
            ap.error(f"{name} {v} is outside [{lo}, {hi}]")
    return a


def default_data(dataset):
    here = os.path.dirname(os.path.abspath(__file__))
    if dataset == "cifar10":
        return os.path.normpath(os.path.join(here, "..", "..", "..", "shared", "data", "cifar-10-batches-bin"))
    return "/usr/share/datasets/fashion-mnist"


def normalization_of(u8):
    x = u8.double() / 255
    return {"mean": x.mean((0, 2, 3)).float().tolist(), "std": x.std((0, 2, 3), unbiased=False).float().tolist()}


def augment(u8, gen, pad=4):
    """Random crop with `pad` pixels of zero padding and a random horizontal flip, drawn for the whole global
    batch from `gen` (the same draws in every process)."""
    n, c, h, w = u8.shape
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    flip = torch.rand(n, generator=gen) < 0.5
    padded = F.pad(u8, (pad, pad, pad, pad))
    rows = (dy[:, None] + torch.arange(h))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w))[:, None, None, :]
    out = padded[torch.arange(n)[:, None, None, None], torch.arange(c)[None, :, None, None], rows, cols]
    return torch.where(flip[:, None, None, None], out.flip(3), out)


def read_oracle_rates(path, images):
    if not path:
        raise SystemExit("--rate-target oracle needs --oracle-rates FILE")
    if path.endswith(".safetensors"):
        rates = ckpt.read(path)[0]["oracle_rates"].float()
    else:
        rates = torch.from_numpy(np.fromfile(path, dtype="<f4"))
    if rates.numel() < images or not bool(((rates >= 0) & (rates <= 1)).all()):
        raise SystemExit(f"{path}: {rates.numel()} rates in [0, 1] expected for {images} training images")
    return rates[:images]


def lr_at(base, t, epochs):
    return base * 0.5 * (1 + math.cos(math.pi * min(1.0, t / max(epochs, 1))))


class PrefixGates:
    """Slimmable widths as masks: gated layer l keeps its top kept(f_l) channels by |gamma| (ties to the lower
    index), multiplied into its ReLU output (the Swift trainer's SandwichStep .masked)."""

    def __init__(self, backbone):
        self.gated, self.masks = gated_layers(backbone), None
        for l, g in enumerate(self.gated):
            g.relu.register_forward_hook(lambda m, i, o, l=l: o if self.masks is None else o * self.masks[l][None, :, None, None])

    def set(self, fractions):
        if fractions is None:
            self.masks = None
            return
        self.masks = []
        for f, g in zip(fractions, self.gated):
            a = g.bn.weight.detach().abs()
            C = a.numel()
            k = max(1, min(C, math.ceil(float(np.float32(f) * np.float32(C)))))
            order = torch.sort(a, descending=True, stable=True).indices[:k]
            self.masks.append(torch.zeros_like(a).scatter_(0, order, 1.0))


def distillation_blend(logits, ce, teacher_logits, alpha, temperature):
    """(1 - alpha) CE + alpha T^2 KL(teacher || student) at temperature T, batch mean (Hinton et al.)."""
    T = temperature
    kd = F.kl_div(F.log_softmax(logits / T, 1), F.softmax(teacher_logits / T, 1), reduction="batchmean") * T * T
    return (1 - alpha) * ce + alpha * kd


def sandwich_passes(forward, backbone, prefix, widths, q, context=lambda k: _null()):
    """The sandwich's narrower passes after the full width's backward: each width in `widths` as prefix masks,
    soft-target cross-entropy against the full width's softmax `q`, gradients added. Running BN statistics (and
    batch counters) follow the full width only. `context(k)` wraps pass k (DDP's no_sync for all but the last)."""
    bns = [m for m in backbone.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    saved = [(m.momentum, m.num_batches_tracked.clone()) for m in bns]
    for m in bns:
        m.momentum = 0.0
    for k, w in enumerate(widths):
        prefix.set(w)
        with context(k):
            (-(q * F.log_softmax(forward(), 1)).sum(1).mean()).backward()
    prefix.set(None)
    for m, (mom, nbt) in zip(bns, saved):
        m.momentum = mom
        m.num_batches_tracked.copy_(nbt)


def sandwich_widths(min_width, random_widths, layers, gen):
    out = [[min_width] * layers]
    for _ in range(random_widths):
        out.append((min_width + (1 - min_width) * torch.rand(layers, generator=gen)).tolist())
    return out


def main(argv=None):
    a = parse(argv)
    rank, world, device = setup()
    if a.batch_size % world:
        raise SystemExit(f"--batch-size {a.batch_size} must be a multiple of the {world} processes")
    os.makedirs(a.out, exist_ok=True)
    resume_path = os.path.join(a.out, "torch-resume.pt")
    state = torch.load(resume_path, map_location="cpu", weights_only=False) if a.resume and os.path.exists(resume_path) else None
    if a.resume and state is None:
        raise SystemExit(f"{resume_path}: nothing to resume (no finished epoch)")
    if state is not None:
        a = argparse.Namespace(**dict(state["args"], out=a.out, resume=True, stop_after=a.stop_after))
    if a.threads:
        torch.set_num_threads(a.threads)  # after resuming: the run's own setting (float sums depend on it)

    data_dir = a.data or default_data(a.dataset)
    xtr, ytr = datasets.load(a.dataset, data_dir, True)
    xte, yte = datasets.load(a.dataset, data_dir, False)
    if a.limit_train:
        xtr, ytr = xtr[:a.limit_train], ytr[:a.limit_train]
    if a.limit_test:
        xte, yte = xte[:a.limit_test], yte[:a.limit_test]
    norm = normalization_of(xtr)

    if a.init:
        init, meta = ckpt.load(a.init)
        cfg = json.loads(meta[ckpt.MODEL_KEY])
        backbone = init.backbone if isinstance(init, (DynamicNet, FBSNet)) else init
    else:
        c, h, w = xtr.shape[1:]
        cfg = ckpt.model_config(a.model, inputChannels=c, inputHeight=h, inputWidth=w, classes=int(ytr.max()) + 1)
        torch.manual_seed(a.seed)
        backbone = build_model(cfg)
    if world > 1:
        backbone = GlobalBatchNorm2d.convert(backbone) if device.type == "cpu" else torch.nn.SyncBatchNorm.convert_sync_batchnorm(backbone)
    torch.manual_seed(a.seed + 1)
    if a.method == "dynamic":
        model = DynamicNet(backbone, cfg, {"target": a.target, "rateTarget": a.rate_target, "epochRatio": a.epoch_ratio})
        if isinstance(init if a.init else None, DynamicNet):
            model.predictor.load_state_dict(init.predictor.state_dict())
    elif a.method == "fbs":
        model = FBSNet(backbone, cfg, {"density": a.density, "epochRatio": a.epoch_ratio})
    else:
        model = backbone
    prefix = PrefixGates(backbone) if a.method == "slimmable" else None
    gated = gated_layers(backbone)
    oracle = read_oracle_rates(a.oracle_rates, len(xtr)) if a.rate_target == "oracle" and a.method == "dynamic" else None
    teacher = None
    if a.teacher:
        teacher, _ = ckpt.load(a.teacher)
        teacher = (teacher.backbone if isinstance(teacher, (DynamicNet, FBSNet)) else teacher).to(device).eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
    model.to(device)
    if a.channels_last and device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    if state is not None:
        model.load_state_dict(state["model"])
    predictor_params = list(model.predictor.parameters()) if isinstance(model, DynamicNet) else []
    ids = {id(p) for p in predictor_params}
    groups = [{"params": [p for p in model.parameters() if id(p) not in ids], "lr_scale": 1.0}]
    if predictor_params:
        groups.append({"params": predictor_params, "lr_scale": model.config["predictorLRMultiplier"]})
    opt = torch.optim.SGD(groups, lr=a.lr, momentum=0.9, weight_decay=a.weight_decay)
    if state is not None:
        opt.load_state_dict(state["optimizer"])
    ddp = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model

    xtr_d, ytr_d = xtr.to(device), ytr.to(device)
    xte_n, yte_d = datasets.normalize(xte.to(device), norm), yte.to(device)
    B, local = a.batch_size, a.batch_size // world
    steps = len(xtr) // B if len(xtr) >= 2 * B else math.ceil(len(xtr) / B)
    completed = state["epoch"] if state is not None else 0
    metrics = state["metrics"] if state is not None else []
    config = {"trainedWith": f"dynaslim_torch, torch {torch.__version__}, {world} process(es) on {device.type}",
              "model": cfg, "dataset": a.dataset, "epochs": a.epochs, "batchSize": B, "seed": a.seed, "method": a.method,
              "schedule": {"kind": "cosine", "baseLR": a.lr, "epochs": a.epochs, "minLR": 0, "warmupEpochs": 0, "gamma": 0.1, "milestones": []},
              "sgd": {"momentum": 0.9, "nesterov": False, "weightDecay": a.weight_decay}, "sparsity": a.sparsity, "labelSmoothing": 0,
              "augmentation": {"randomCrop": True, "cropPadding": 4, "horizontalFlip": True},
              "initializedFrom": a.init}
    if a.teacher:
        config["distillation"] = {"teacher": a.teacher, "alpha": a.kd_alpha, "temperature": a.kd_temperature}
    if a.method == "slimmable":
        config["slimmable"] = {"minWidth": a.min_width, "randomWidths": a.random_widths}
    if isinstance(model, (DynamicNet, FBSNet)):
        config["dynamic" if isinstance(model, DynamicNet) else "fbs"] = model.config
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if a.amp and device.type == "cuda" else None

    def forward(x):
        if autocast:
            with autocast():
                return ddp(x).float()
        return ddp(x)

    def kd_blend(logits, ce, x):
        if teacher is None:
            return ce
        with torch.no_grad():
            t = teacher(x)
        return distillation_blend(logits, ce, t, a.kd_alpha, a.kd_temperature)

    first = completed
    while completed < a.epochs and not (a.stop_after and completed - first >= a.stop_after):
        epoch = completed + 1
        torch.manual_seed(a.seed * 7919 + epoch)  # dropout draws: a function of (seed, epoch)
        model.train()
        gen = torch.Generator().manual_seed(a.seed * 1_000_003 + epoch)
        perm = torch.randperm(len(xtr), generator=gen)
        t0 = time.time()
        sums = torch.zeros(3, dtype=torch.float64)  # loss * n, correct, n (this process)
        rate_sums = torch.zeros(4, dtype=torch.float64)
        lr = a.lr
        for step in range(steps):
            idx = perm[step * B:(step + 1) * B]
            u8 = augment(xtr[idx], gen)
            mine = slice(rank * (len(idx) // world), (rank + 1) * (len(idx) // world)) if len(idx) % world == 0 else slice(0, len(idx))
            x = datasets.normalize(u8[mine].to(device), norm)
            y = ytr[idx][mine].to(device)
            progress = epoch - 1 + step / steps
            lr = lr_at(a.lr, progress, a.epochs)
            for g in opt.param_groups:
                g["lr"] = lr * g["lr_scale"]
            if isinstance(model, FBSNet):
                model.density = model.scheduled_density(progress, a.epochs)
            opt.zero_grad(set_to_none=True)
            widths = sandwich_widths(a.min_width, a.random_widths, len(gated), gen) if prefix else []
            ctx = ddp.no_sync() if (world > 1 and widths) else _null()
            with ctx:
                if prefix:
                    prefix.set(None)
                logits = forward(x)
                ce = F.cross_entropy(logits, y)
                loss = kd_blend(logits, ce, x)
                total = loss
                if isinstance(model, DynamicNet):
                    te = scheduled_target(a.target, progress, a.epoch_ratio, a.epochs)
                    rates = oracle[idx[mine]].to(device) if oracle is not None else None
                    gate, st = model.gate_loss(torch.softmax(logits.detach(), 1), te, rates)
                    total = total + gate
                    rate_sums += torch.tensor([st["soft_rate"], st["hard_rate"], st["expected_rate"], st["rate_loss"]], dtype=torch.float64) * len(y)
                elif isinstance(model, FBSNet):
                    total = total + model.fbs_loss()
                if a.sparsity > 0:
                    total = total + a.sparsity * sum(g.bn.weight.abs().sum() for g in gated)
                total.backward()
            if prefix:
                sandwich_passes(lambda: forward(x), backbone, prefix, widths, torch.softmax(logits.detach(), 1),
                                lambda k: ddp.no_sync() if world > 1 and k + 1 < len(widths) else _null())
            opt.step()
            sums += torch.tensor([loss.item() * len(y), (logits.argmax(1) == y).sum().item(), len(y)], dtype=torch.float64)
        sums, rate_sums = all_sum(sums), all_sum(rate_sums)
        train_seconds = time.time() - t0
        if rank == 0:
            m = evaluate(model, backbone, xte_n, yte_d, epoch, lr, sums, train_seconds, t0, rate_sums, cfg)
            metrics.append(m)
            commit(a, model, cfg, norm, config, opt, epoch, metrics)
        if world > 1:
            dist.barrier()
        completed = epoch
    if world > 1:
        dist.destroy_process_group()


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def evaluate(model, backbone, x, y, epoch, lr, sums, train_seconds, t0, rate_sums, cfg):
    model.eval()
    loss, correct, macs = 0.0, 0, []
    with torch.no_grad():
        for i in range(0, len(x), 500):
            logits = model(x[i:i + 500]).float()
            loss += F.cross_entropy(logits, y[i:i + 500], reduction="sum").item()
            correct += (logits.argmax(1) == y[i:i + 500]).sum().item()
            if isinstance(model, DynamicNet):
                macs += model.macs_per_sample()
    dense_cfg = dict(cfg)
    dense_cfg.pop("widths", None)
    from .accounting import layer_macs
    shape = (cfg["inputChannels"], cfg["inputHeight"], cfg["inputWidth"])
    dense_macs = sum(layer_macs(build_model(dense_cfg), shape).values())
    own = sum(layer_macs(backbone, shape).values())
    n = max(sums[2].item(), 1)
    m = {"epoch": epoch, "train_loss": sums[0].item() / n, "train_accuracy": sums[1].item() / n, "test_loss": loss / len(x),
         "test_accuracy": correct / len(x), "lr": lr, "seconds": time.time() - t0, "images_per_second": n / max(train_seconds, 1e-9),
         "params": sum(p.numel() for p in backbone.parameters()), "dense_macs_per_image": dense_macs}
    if isinstance(model, DynamicNet):
        m["macs_per_image"] = int(sum(macs) / len(macs) + model.predictor_macs())
        m.update({k: rate_sums[i].item() / n for i, k in enumerate(["train_soft_rate", "train_hard_rate", "train_expected_rate", "train_rate_loss"])})
    elif isinstance(model, FBSNet):
        m["macs_per_image"] = int(model.accounting.macs([model.kept(w) for w in model.accounting.widths]) + model.predictor_macs())
    else:
        m["macs_per_image"] = own
    model.train()
    return m


def commit(a, model, cfg, norm, config, opt, epoch, metrics):
    """The epoch's commit: torch-resume.pt replaced atomically; then the derived model and metrics files."""
    buf = io.BytesIO()
    torch.save({"args": {k: v for k, v in vars(a).items() if k not in ("out", "resume", "stop_after")}, "model": model.state_dict(),
                "optimizer": opt.state_dict(), "epoch": epoch, "metrics": metrics}, buf)
    ckpt.write_atomic(os.path.join(a.out, "torch-resume.pt"), buf.getvalue())
    ckpt.write_atomic(os.path.join(a.out, "config.json"), json.dumps(config, indent=2, sort_keys=True).encode())
    meta = {"dynaslim.normalization": ckpt.compact(norm), "dynaslim.dataset": a.dataset, "dynaslim.train": ckpt.compact(config),
            "completed_epochs": str(epoch)}
    ckpt.save(os.path.join(a.out, "model.safetensors"), model, cfg, meta)
    lines = "".join(json.dumps(m, sort_keys=True) + "\n" for m in metrics)
    ckpt.write_atomic(os.path.join(a.out, "metrics.jsonl"), lines.encode())
    print(f"epoch {epoch}/{a.epochs}: test accuracy {metrics[-1]['test_accuracy'] * 100:.2f}%, "
          f"{metrics[-1]['images_per_second']:.1f} img/s", flush=True)


if __name__ == "__main__":
    main()
