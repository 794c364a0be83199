#!/usr/bin/env python3
"""Interop check between DynaSlim and the Python safetensors package (numpy only, no torch).

The forward pass below re-implements PyTorch's eval-mode semantics for the CIFAR ResNet
(akamaster layout, option A shortcut): Conv2d (no bias), BatchNorm2d with running statistics
(eps 1e-5), ReLU, F.pad(x[:, :, ::2, ::2], (0,0,0,0, p, p)), adaptive average pool, Linear.

  interop.py phase1 MODEL IO OUT_ROUNDTRIP OUT_PY_STATE OUT_PY_LOGITS
  interop.py phase2 PY_STATE SWIFT_REWRITE
"""
import sys
import numpy as np
from safetensors.numpy import load_file, save_file


def conv(x, w, stride, pad):
    n, c, h, wd = x.shape
    o, _, k, _ = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    ho, wo = (h + 2 * pad - k) // stride + 1, (wd + 2 * pad - k) // stride + 1
    out = np.zeros((n, o, ho, wo), dtype=np.float64)
    for ky in range(k):
        for kx in range(k):
            patch = xp[:, :, ky:ky + stride * ho:stride, kx:kx + stride * wo:stride]
            out += np.einsum("nchw,oc->nohw", patch, w[:, :, ky, kx])
    return out


def bn(x, sd, p):
    s = lambda t: sd[f"{p}.{t}"].astype(np.float64)[None, :, None, None]
    return (x - s("running_mean")) / np.sqrt(s("running_var") + 1e-5) * s("weight") + s("bias")


def resnet_forward(sd, x):
    relu = lambda t: np.maximum(t, 0)
    x = relu(bn(conv(x, sd["conv1.weight"], 1, 1), sd, "bn1"))
    for stage in (1, 2, 3):
        i = 0
        while f"layer{stage}.{i}.conv1.weight" in sd:
            p = f"layer{stage}.{i}"
            stride = 2 if stage > 1 and i == 0 else 1
            out = relu(bn(conv(x, sd[f"{p}.conv1.weight"], stride, 1), sd, f"{p}.bn1"))
            out = bn(conv(out, sd[f"{p}.conv2.weight"], 1, 1), sd, f"{p}.bn2")
            planes = sd[f"{p}.conv2.weight"].shape[0]
            if stride != 1 or x.shape[1] != planes:
                extra = planes - x.shape[1]
                x = np.pad(x[:, :, ::2, ::2], ((0, 0), (extra // 2, extra - extra // 2), (0, 0), (0, 0)))
            x = relu(out + x)
            i += 1
    x = x.mean(axis=(2, 3))
    return x @ sd["linear.weight"].astype(np.float64).T + sd["linear.bias"]


def check_close(a, b, what):
    err = np.max(np.abs(a - b)) / max(1.0, np.max(np.abs(b)))
    print(f"{what}: max relative error {err:.2e}")
    if err > 1e-4:
        sys.exit(f"{what}: mismatch {err}")


def phase1(model, io, out_roundtrip, out_state, out_logits):
    sd = load_file(model)
    io_t = load_file(io)
    x = io_t["input"].astype(np.float64)
    check_close(resnet_forward(sd, x), io_t["logits"].astype(np.float64), "DynaSlim logits vs numpy (PyTorch semantics)")
    save_file(sd, out_roundtrip, metadata={"format": "pt"})
    rng = np.random.default_rng(1)
    new = {}
    for k, v in sd.items():
        if k.endswith("num_batches_tracked"):
            new[k] = np.array(123, dtype=np.int64)
        elif k.endswith("running_var"):
            new[k] = rng.uniform(0.5, 2.0, v.shape).astype(np.float32)
        else:
            new[k] = (rng.standard_normal(v.shape) * 0.3).astype(np.float32)
    save_file(new, out_state, metadata={"format": "pt"})
    save_file({"logits": resnet_forward(new, x).astype(np.float32)}, out_logits)


def phase2(py_state, swift_rewrite):
    a, b = load_file(py_state), load_file(swift_rewrite)
    if set(a) != set(b):
        sys.exit(f"key sets differ: {sorted(set(a) ^ set(b))}")
    for k in a:
        if a[k].dtype != b[k].dtype or a[k].shape != b[k].shape or a[k].tobytes() != b[k].tobytes():
            sys.exit(f"tensor {k} differs: {a[k].dtype}{a[k].shape} vs {b[k].dtype}{b[k].shape}")
    print(f"{len(a)} tensors byte-identical")


if __name__ == "__main__":
    {"phase1": phase1, "phase2": phase2}[sys.argv[1]](*sys.argv[2:])
