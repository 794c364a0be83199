"""What the Swift parity tests ask of the PyTorch side (Tests/DynaSlimTrainTests/TorchParityTests.swift):

  python3 -m dynaslim_torch.parity CKPT IMAGES LABELS N OUT [--target TE] [--density D] [--oracle FILE]
      1. eval-mode logits of the N images (IMAGES: float32 [N, C, H, W], normalized, little-endian) and,
         for a dynamic model, each sample's kept channels per gated layer: printed as one JSON object;
      2. one training step's loss and gradients from the checkpoint's weights (train mode): cross-entropy,
         plus the gate loss at scheduled target TE (dynamic) or the saliency L1 at density D (FBS).
         LABELS: int32 [N]. Writes OUT (safetensors: "grad.<name>" per parameter under DynaSlim's names,
         metadata "loss"). One process for both: importing torch is most of the cost.
      --teacher T --kd-alpha A --kd-temperature K: the step's loss blends distillation from checkpoint T.
      --sandwich FILE: a slimmable step: after the full width, the widths in FILE (JSON, one list of
      per-layer fractions per pass) as |gamma|-prefix masks, each distilled from the full width's softmax,
      running BN statistics untouched (the Swift SandwichStep).
"""
import argparse
import json

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from .checkpoint import load
from .dynamic import DynamicNet
from .fbs import FBSNet
from .train import PrefixGates, distillation_blend, sandwich_passes


def images(path, n, cfg):
    x = np.fromfile(path, dtype="<f4")
    c, h, w = cfg.get("inputChannels", 3), cfg.get("inputHeight", 32), cfg.get("inputWidth", 32)
    return torch.from_numpy(x.reshape(n, c, h, w).copy())


def named_parameters(model):
    if isinstance(model, DynamicNet):
        return [(k, p) for k, p in model.backbone.named_parameters()] + [("predictor." + k, p) for k, p in model.predictor.named_parameters()]
    if isinstance(model, FBSNet):
        return list(model.backbone.named_parameters()) + list(model.state_dict_extra().items())
    return list(model.named_parameters())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint")
    ap.add_argument("images")
    ap.add_argument("labels")
    ap.add_argument("n", type=int)
    ap.add_argument("out")
    ap.add_argument("--target", type=float, default=0.5)
    ap.add_argument("--density", type=float)
    ap.add_argument("--oracle")
    ap.add_argument("--teacher")
    ap.add_argument("--kd-alpha", type=float, default=0.9)
    ap.add_argument("--kd-temperature", type=float, default=4.0)
    ap.add_argument("--sandwich")
    a = ap.parse_args()
    model, meta = load(a.checkpoint)
    cfg = json.loads(meta["dynaslim.model"])
    torch.set_num_threads(1)
    x = images(a.images, a.n, cfg)
    with torch.no_grad():
        logits = model(x)
    out = {"logits": logits.tolist()}
    if isinstance(model, DynamicNet):
        out["kept"] = model.kept.int().tolist()
    print(json.dumps(out))
    y = torch.from_numpy(np.fromfile(a.labels, dtype="<i4").astype(np.int64))
    model.train()
    if isinstance(model, FBSNet) and a.density is not None:
        model.density = a.density
    prefix = PrefixGates(model) if a.sandwich else None
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    if a.teacher:
        teacher, _ = load(a.teacher)
        with torch.no_grad():
            t = teacher(x)
        loss = distillation_blend(logits, loss, t, a.kd_alpha, a.kd_temperature)
    total = loss
    if isinstance(model, DynamicNet):
        oracle = torch.from_numpy(np.fromfile(a.oracle, dtype="<f4")) if a.oracle else None
        gate, _ = model.gate_loss(torch.softmax(logits, 1), a.target, oracle)
        total = total + gate
    elif isinstance(model, FBSNet):
        total = total + model.fbs_loss()
    total.backward()
    if prefix:
        sandwich_passes(lambda: model(x), model, prefix, json.load(open(a.sandwich)), torch.softmax(logits.detach(), 1))
    grads = {"grad." + k: (p.grad if p.grad is not None else torch.zeros_like(p)).detach().contiguous() for k, p in named_parameters(model)}
    save_file(grads, a.out, metadata={"loss": repr(loss.item())})


if __name__ == "__main__":
    main()
