"""The ONNX graph of a DynaSlim CIFAR ResNet (option A shortcuts), dense or statically thinned, built from its
PyTorch-named state_dict: the graph torch.onnx.export produces for akamaster's resnet (Conv, BatchNormalization,
Relu, Add, the option-A shortcut as strided Slice + channel Pad, GlobalAveragePool, Flatten, Gemm). A thinned
model's narrower inner convs come out as they are: its tensors carry the widths. With `normalization`, the graph
starts with (x - mean) / std per channel, so it takes pixels scaled to [0, 1].

Used by scripts/export_onnx.py (`dynaslim export`) and scripts/onnx_reference.py (the onnxruntime baseline).
"""
import numpy as np
import onnx
from onnx import helper, TensorProto, numpy_helper


def build(sd, in_shape, normalization=None):
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
    x = "input"
    if normalization is not None:
        c = in_shape[0]
        mean = np.asarray(normalization["mean"], np.float32).reshape(1, c, 1, 1)
        std = np.asarray(normalization["std"], np.float32).reshape(1, c, 1, 1)
        nodes.append(helper.make_node("Sub", [x, init("normalization.mean", mean)], ["centred"]))
        nodes.append(helper.make_node("Div", ["centred", init("normalization.std", std)], ["normalized"]))
        x = "normalized"
    x = conv_bn(x, "conv1", "bn1", 1, True)
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
