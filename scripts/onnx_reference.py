#!/usr/bin/env python3
"""Reference latency for the dense engine: the same CIFAR ResNet (option A) run by onnxruntime.

Builds an ONNX graph directly from a DynaSlim / PyTorch-named safetensors checkpoint (scripts/onnx_graph.py:
the graph torch.onnx.export produces for akamaster's resnet), lets onnxruntime apply
its usual graph optimizations (BN folding, fusion), and times inference with N intra-op threads.

  python3 scripts/onnx_reference.py CHECKPOINT|MODEL.onnx --input 3x32x32 --batch 1 --threads 2 [--repeats 200]
Prints one JSON object: ms_per_batch, images_per_second, onnxruntime version.
Needs: pip install onnx onnxruntime safetensors numpy
"""
import argparse, json, time
import numpy as np
import os, sys
import onnx
import onnxruntime as ort
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from onnx_graph import build
from safetensors.numpy import load_file


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint"); ap.add_argument("--input", default="3x32x32")
    ap.add_argument("--batch", type=int, default=1); ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=100); ap.add_argument("--save")
    a = ap.parse_args()
    shape = [int(v) for v in a.input.split("x")]
    if a.checkpoint.endswith(".onnx"):
        model = onnx.load(a.checkpoint)   # an exported model (`dynaslim export`), timed as it is
    else:
        sd = {k: v for k, v in load_file(a.checkpoint).items() if not k.endswith("num_batches_tracked")}
        model = build(sd, shape)
    if a.save:
        onnx.save(model, a.save)
    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads; so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal([a.batch] + shape).astype(np.float32)
    for _ in range(5):
        sess.run(None, {"input": x})
    times = []
    for _ in range(a.repeats):
        t0 = time.perf_counter(); sess.run(None, {"input": x}); times.append(time.perf_counter() - t0)
    ms = float(np.median(times) * 1e3)
    print(json.dumps({"ms_per_batch": ms, "images_per_second": a.batch / ms * 1e3, "batch": a.batch, "threads": a.threads,
                      "onnxruntime": ort.__version__}))


if __name__ == "__main__":
    main()
