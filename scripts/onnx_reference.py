#!/usr/bin/env python3
"""Reference latency for the dense engine: the same CIFAR ResNet (option A) run by onnxruntime.

Builds an ONNX graph directly from a DynaSlim / PyTorch-named safetensors checkpoint (the graph
torch.onnx.export produces for akamaster's resnet: Conv, BatchNormalization, Relu, Add, the option-A
shortcut as strided Slice + channel Pad, GlobalAveragePool, Flatten, Gemm), lets onnxruntime apply
its usual graph optimizations (BN folding, fusion), and times inference with N intra-op threads.

  python3 scripts/onnx_reference.py CHECKPOINT --input 3x32x32 --batch 1 --threads 2 [--repeats 200]
Prints one JSON object: ms_per_batch, images_per_second, onnxruntime version.
Needs: pip install onnx onnxruntime safetensors numpy
"""
import argparse, json, time
import numpy as np
import onnx
from onnx import helper, TensorProto, numpy_helper
import onnxruntime as ort
from safetensors.numpy import load_file


def build(sd, in_shape):
    nodes, inits = [], []
    def init(name, arr):
        inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name
    counter = [0]
    def fresh(p):
        counter[0] += 1
        return f"{p}_{counter[0]}"
    def conv_bn(x, conv, bn, stride, relu):
        w = sd[f"{conv}.weight"]
        y = fresh("conv")
        k = w.shape[2]
        nodes.append(helper.make_node("Conv", [x, init(f"{conv}.weight", w)], [y], kernel_shape=[k, k],
                                      strides=[stride, stride], pads=[k // 2] * 4))
        z = fresh("bn")
        nodes.append(helper.make_node("BatchNormalization", [y] + [init(f"{bn}.{t}", sd[f"{bn}.{t}"]) for t in
                                      ("weight", "bias", "running_mean", "running_var")], [z], epsilon=1e-5))
        if relu:
            r = fresh("relu"); nodes.append(helper.make_node("Relu", [z], [r])); return r
        return z
    x = conv_bn("input", "conv1", "bn1", 1, True)
    for stage in (1, 2, 3):
        i = 0
        while f"layer{stage}.{i}.conv1.weight" in sd:
            p = f"layer{stage}.{i}"
            stride = 2 if stage > 1 and i == 0 else 1
            out = conv_bn(x, f"{p}.conv1", f"{p}.bn1", stride, True)
            out = conv_bn(out, f"{p}.conv2", f"{p}.bn2", 1, False)
            planes, inp = sd[f"{p}.conv2.weight"].shape[0], sd[f"{p}.conv1.weight"].shape[1]
            short = x
            if stride != 1 or inp != planes:
                s = fresh("slice")
                nodes.append(helper.make_node("Slice", [x, init(fresh("st"), np.array([0, 0], np.int64)), init(fresh("en"), np.array([2**31, 2**31], np.int64)),
                                                        init(fresh("ax"), np.array([2, 3], np.int64)), init(fresh("sp"), np.array([2, 2], np.int64))], [s]))
                extra = planes - inp
                pd = fresh("pad")
                nodes.append(helper.make_node("Pad", [s, init(fresh("pads"), np.array([0, extra // 2, 0, 0, 0, extra - extra // 2, 0, 0], np.int64))], [pd]))
                short = pd
            a = fresh("add"); nodes.append(helper.make_node("Add", [out, short], [a]))
            r = fresh("relu"); nodes.append(helper.make_node("Relu", [a], [r]))
            x = r
            i += 1
    g = fresh("gap"); nodes.append(helper.make_node("GlobalAveragePool", [x], [g]))
    f = fresh("flat"); nodes.append(helper.make_node("Flatten", [g], [f]))
    nodes.append(helper.make_node("Gemm", [f, init("linear.weight", sd["linear.weight"]), init("linear.bias", sd["linear.bias"])], ["logits"], transB=1))
    graph = helper.make_graph(nodes, "resnet", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N"] + list(in_shape))],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", sd["linear.weight"].shape[0]])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return model


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint"); ap.add_argument("--input", default="3x32x32")
    ap.add_argument("--batch", type=int, default=1); ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=100); ap.add_argument("--save")
    a = ap.parse_args()
    sd = {k: v for k, v in load_file(a.checkpoint).items() if not k.endswith("num_batches_tracked")}
    shape = [int(v) for v in a.input.split("x")]
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
