#!/usr/bin/env python3
"""Logits of an exported ONNX model (scripts/export_onnx.py) on the first N records of a CIFAR-10 binary batch,
run by onnxruntime: the check that the export matches the engine (the tests compare them).

  python3 scripts/onnx_logits.py MODEL.onnx test_batch.bin N
Prints JSON: {"logits": [[...], ...], "labels": [...]}.
"""
import json, sys
import numpy as np
import onnxruntime as ort

model, batch, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
raw = np.fromfile(batch, dtype=np.uint8).reshape(-1, 3073)[:n]
x = raw[:, 1:].reshape(n, 3, 32, 32).astype(np.float32) / 255
sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
logits = sess.run(None, {"input": x})[0]
print(json.dumps({"logits": logits.tolist(), "labels": raw[:, 0].tolist()}))
