#!/usr/bin/env python3
"""Exports a dense or statically thinned DynaSlim ResNet checkpoint to ONNX (what `dynaslim export CKPT --onnx OUT`
runs): the graph of scripts/onnx_graph.py with the checkpoint's normalization as its first nodes, so the ONNX model
takes images as float pixels scaled to [0, 1], [N, C, H, W], and returns logits [N, classes].

Dynamic and FBS checkpoints are refused: their per-input channel choice has no ONNX form (a static model of the
same weights is `dynaslim prune`'s job).

  python3 scripts/export_onnx.py CHECKPOINT OUT.onnx
Needs: pip install onnx safetensors numpy
"""
import json, os, sys
import numpy as np
import onnx
from safetensors import safe_open
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from onnx_graph import build


def fail(msg):
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(1)


def main():
    if len(sys.argv) != 3:
        fail("usage: export_onnx.py CHECKPOINT OUT.onnx")
    path, out = sys.argv[1], sys.argv[2]
    try:
        with safe_open(path, "np") as f:
            meta = f.metadata() or {}
            sd = {k: f.get_tensor(k) for k in f.keys() if not k.endswith("num_batches_tracked")}
    except Exception as e:  # the safetensors library's own message
        fail(f"{path}: cannot read: {e}")
    if "dynaslim.dynamic" in meta or "dynaslim.fbs" in meta:
        kind = "dynamic" if "dynaslim.dynamic" in meta else "FBS"
        fail(f"{path} is a {kind} checkpoint: its per-input channel skipping has no ONNX form; export a dense or "
             f"statically pruned model (dynaslim prune) instead")
    model = json.loads(meta.get("dynaslim.model", "{}"))
    arch = model.get("architecture", "")
    if not arch.startswith("resnet") or model.get("shortcut", "A") != "A":
        fail(f"{path}: ONNX export covers the CIFAR ResNets with option-A shortcuts; this is '{arch or 'unknown'}'")
    if "dynaslim.normalization" not in meta:
        fail(f"{path}: no dynaslim.normalization metadata (the ONNX graph normalizes its input)")
    normalization = json.loads(meta["dynaslim.normalization"])
    shape = [model["inputChannels"], model["inputHeight"], model["inputWidth"]]
    graph = build(sd, shape, normalization)
    graph.doc_string = (f"DynaSlim {arch} ({'thinned' if model.get('widths') else 'dense'}) from {os.path.basename(path)}; "
                        f"input: float pixels in [0, 1], [N, {shape[0]}, {shape[1]}, {shape[2]}]; output: logits")
    tmp = out + ".tmp"
    onnx.save(graph, tmp)
    os.replace(tmp, out)
    print(json.dumps({"onnx": out, "architecture": arch, "thinned": bool(model.get("widths")), "input": shape,
                      "classes": int(sd["linear.weight"].shape[0])}))


if __name__ == "__main__":
    main()
