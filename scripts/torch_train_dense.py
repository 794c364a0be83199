#!/usr/bin/env python3
"""Trains a dense CIFAR-10 M-CifarNet in PyTorch (on a GPU when one is there) and writes it as a
DynaSlim run directory, so that DynaSlim's slimming methods can start from it.

Why: a 20-epoch dense M-CifarNet takes ~4 h on the 2-core CPU machine (12 min/epoch, 175 M MACs per
image); on one GPU it takes minutes. Everything after the dense model (pruning, fine-tuning, FBS,
dynamic slimming, evaluation, benchmarks) is DynaSlim's. The weights cross over through the
checkpoint format DynaSlim shares with PyTorch: safetensors with PyTorch state_dict names
(`features.0.weight`, `features.1.running_mean`, ..., `classifier.weight`) and DynaSlim's
architecture record in `__metadata__` (`dynaslim.model`), so `dynaslim eval` loads the file as is.

The network is DynaSlim's `mcifarnet` (Sources/DynaSlimNN/Models.swift), layer for layer: eight
3x3 conv (no bias) -> BN -> ReLU blocks of 64, 64, 128s2, 128, 128, 192s2, 192, 192 channels (the
first unpadded), dropout after the 3rd and 6th block, global average pool, 1x1 conv classifier
with bias. The recipe is DynaSlim's `train` defaults for CIFAR-10: SGD momentum 0.9, weight decay
5e-4, batch 128 (last partial batch dropped), cosine learning rate from --lr to 0, random crop
(4-pixel zero padding) and horizontal flip, the same per-channel normalization.

  python3 scripts/torch_train_dense.py --data DIR --epochs 60 --out runs/c10-mcifarnet-torch
DIR holds CIFAR-10's binary batches (data_batch_1..5.bin, test_batch.bin), each optionally xz-
compressed (NAME.bin.xz). Writes OUT/model.safetensors (after every epoch, via a temporary file),
OUT/metrics.jsonl (one line per epoch, DynaSlim's keys) and OUT/config.json (DynaSlim's keys plus
`trained_with`). Needs torch and safetensors.
"""
import argparse, json, lzma, math, os, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

MEAN = [0.49139968, 0.48215842, 0.4465309]   # DynaSlim's CIFAR-10 normalization (dynaslim.normalization)
STD = [0.24703223, 0.24348512, 0.26158783]
RECORD = 1 + 3 * 32 * 32                     # label byte + CHW uint8 image
# DynaSlim's architecture record (ModelConfig), in the checkpoint's metadata and config.json.
MODEL_CONFIG = {"architecture": "mcifarnet", "classes": 10, "dropout": 0.3, "gammaInit": 1,
                "inputChannels": 3, "inputHeight": 32, "inputWidth": 32, "shortcut": "A"}


def read_batches(data_dir, names):
    """Returns (images uint8 [N,3,32,32], labels int64 [N]) from CIFAR-10 binary batch files."""
    raw = []
    for name in names:
        path = os.path.join(data_dir, name)
        if os.path.exists(path):
            blob = open(path, "rb").read()
        elif os.path.exists(path + ".xz"):
            blob = lzma.decompress(open(path + ".xz", "rb").read())
        else:
            raise FileNotFoundError(f"{path}: not found (nor {path}.xz)")
        if len(blob) % RECORD:
            raise ValueError(f"{path}: {len(blob)} bytes is not a whole number of {RECORD}-byte records")
        raw.append(np.frombuffer(blob, np.uint8).reshape(-1, RECORD))
    rec = np.concatenate(raw)
    labels = rec[:, 0].astype(np.int64)
    if labels.max() > 9:
        raise ValueError(f"{data_dir}: label {labels.max()} out of range 0..9")
    return rec[:, 1:].reshape(-1, 3, 32, 32), labels


def mcifarnet(classes=10, dropout=0.3):
    """DynaSlim's mcifarnet with the same module indices (hence state_dict names)."""
    spec = [(64, 1, 0), (64, 1, 1), (128, 2, 1), (128, 1, 1), (128, 1, 1), (192, 2, 1), (192, 1, 1), (192, 1, 1)]
    layers, c_in = [], 3
    for k, (c, s, p) in enumerate(spec):
        layers += [nn.Conv2d(c_in, c, 3, stride=s, padding=p, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
        if k in (2, 5):
            layers.append(nn.Dropout(dropout))
        c_in = c
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(*layers)
            self.classifier = nn.Conv2d(c_in, classes, 1, bias=True)
        def forward(self, x):
            x = F.adaptive_avg_pool2d(self.features(x), 1)
            return self.classifier(x).flatten(1)
    return Net()


def augment(padded_u8, idx, gen):
    """Random 32x32 crop of the 40x40 zero-padded images `idx` and a random horizontal flip."""
    b = idx.numel()
    dev = padded_u8.device
    ar = torch.arange(32, device=dev)
    oy = torch.randint(0, 9, (b,), device=dev, generator=gen)
    ox = torch.randint(0, 9, (b,), device=dev, generator=gen)
    rows = (oy[:, None] + ar)[:, None, :, None]          # [B,1,32,1]
    cols = (ox[:, None] + ar)[:, None, None, :]          # [B,1,1,32]
    x = padded_u8[idx[:, None, None, None], torch.arange(3, device=dev)[None, :, None, None], rows, cols]
    flip = torch.rand(b, device=dev, generator=gen) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def save_checkpoint(model, path, epochs_done):
    meta = {
        "dynaslim.model": json.dumps(MODEL_CONFIG, separators=(",", ":"), sort_keys=True),
        "dynaslim.dataset": "cifar10",
        "dynaslim.normalization": json.dumps({"mean": MEAN, "std": STD}, separators=(",", ":"), sort_keys=True),
        "completed_epochs": str(epochs_done),
        "trained_with": f"scripts/torch_train_dense.py, torch {torch.__version__}",
        "format": "pt",
    }
    sd = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tmp = path + ".tmp"
    save_file(sd, tmp, metadata=meta)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--weight-decay", type=float, default=5e-4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sparsity", type=float, default=0.0,
                    help="Network Slimming's L1 on the BN gammas: adds LAMBDA * sign(gamma) to every BN gamma's gradient "
                         "(all eight are gated in M-CifarNet), as `dynaslim train --sparsity` does")
    ap.add_argument("--steps", type=int, default=0, help="smoke test: stop after this many steps (0: full run)")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(a.seed)
    gen = torch.Generator(device=dev); gen.manual_seed(a.seed)

    xtr, ytr = read_batches(a.data, [f"data_batch_{i}.bin" for i in range(1, 6)])
    xte, yte = read_batches(a.data, ["test_batch.bin"])
    padded = F.pad(torch.from_numpy(xtr.copy()).to(dev), (4, 4, 4, 4))          # uint8 [N,3,40,40]
    ytr_t, yte_t = torch.from_numpy(ytr).to(dev), torch.from_numpy(yte).to(dev)
    mean = torch.tensor(MEAN, device=dev).view(1, 3, 1, 1) * 255
    std = torch.tensor(STD, device=dev).view(1, 3, 1, 1) * 255
    norm = lambda u8: (u8.float() - mean) / std
    xte_t = norm(torch.from_numpy(xte.copy()).to(dev))

    model = mcifarnet().to(dev)
    bns = [m for m in model.features if isinstance(m, nn.BatchNorm2d)]
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=0.9, weight_decay=a.weight_decay)
    steps_per_epoch = len(ytr) // a.batch_size
    total = steps_per_epoch * a.epochs
    config = {"model": MODEL_CONFIG,
              "dataset": "cifar10", "epochs": a.epochs, "batchSize": a.batch_size, "labelSmoothing": 0, "seed": a.seed,
              "schedule": {"kind": "cosine", "baseLR": a.lr, "epochs": a.epochs, "milestones": [], "gamma": 0.1,
                           "minLR": 0, "warmupEpochs": 0},
              "sgd": {"momentum": 0.9, "weightDecay": a.weight_decay, "nesterov": False},
              "augmentation": {"randomCrop": True, "cropPadding": 4, "horizontalFlip": True}, "sparsity": a.sparsity,
              "trained_with": f"scripts/torch_train_dense.py (PyTorch {torch.__version__}, {torch.cuda.get_device_name() if dev.type == 'cuda' else 'cpu'})"}
    json.dump(config, open(os.path.join(a.out, "config.json"), "w"), indent=2, sort_keys=True)
    metrics = open(os.path.join(a.out, "metrics.jsonl"), "w")
    step = 0
    for epoch in range(1, a.epochs + 1):
        t0 = time.time()
        model.train()
        perm = torch.randperm(len(ytr), device=dev, generator=gen)
        loss_sum = torch.zeros((), device=dev); correct = torch.zeros((), device=dev, dtype=torch.long); seen = 0
        for s in range(steps_per_epoch):
            # Cosine over steps, as DynaSlim's schedule (lr at the start of each step).
            lr = 0.5 * a.lr * (1 + math.cos(math.pi * step / total))
            for g in opt.param_groups: g["lr"] = lr
            idx = perm[s * a.batch_size:(s + 1) * a.batch_size]
            x, y = norm(augment(padded, idx, gen)), ytr_t[idx]
            out = model(x)
            loss = F.cross_entropy(out, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if a.sparsity:
                for bn in bns:
                    bn.weight.grad.add_(torch.sign(bn.weight.detach()), alpha=a.sparsity)
            opt.step()
            loss_sum += loss.detach() * len(idx); correct += (out.argmax(1) == y).sum(); seen += len(idx)
            step += 1
            if a.steps and step >= a.steps:
                break
        train_loss, train_acc = loss_sum.item() / seen, correct.item() / seen
        model.eval()
        with torch.no_grad():
            logits = torch.cat([model(xte_t[i:i + 1000]) for i in range(0, len(yte), 1000)])
            test_loss = F.cross_entropy(logits, yte_t).item()
            test_acc = (logits.argmax(1) == yte_t).float().mean().item()
        secs = time.time() - t0
        m = {"epoch": epoch, "train_loss": train_loss, "train_accuracy": train_acc, "test_loss": test_loss,
             "test_accuracy": test_acc, "lr": lr, "seconds": secs, "images_per_second": seen / secs}
        metrics.write(json.dumps(m, sort_keys=True) + "\n"); metrics.flush()
        save_checkpoint(model, os.path.join(a.out, "model.safetensors"), epoch)
        print(f"epoch {epoch}: train loss {train_loss:.4f} acc {train_acc*100:.2f}% | test loss {test_loss:.4f} "
              f"acc {test_acc*100:.2f}% | lr {lr:.4g} | {secs:.1f}s", flush=True)
        if a.steps and step >= a.steps:
            break
    with torch.no_grad():   # logits of the first 8 test images, for checking DynaSlim's eval of the file
        json.dump(model(xte_t[:8]).cpu().tolist(), open(os.path.join(a.out, "check_logits.json"), "w"))


if __name__ == "__main__":
    main()
