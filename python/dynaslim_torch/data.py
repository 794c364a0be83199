"""The datasets DynaSlim trains on, read from the same files the Swift side reads (CIFAR-10's binary
batches, Fashion-MNIST's IDX files, either optionally gzip/xz-compressed), as uint8 tensors [N, C, H, W]
and int64 labels, and DynaSlim's normalization: x = (u8 / 255 - mean) / std per channel."""
import gzip
import lzma
import os

import numpy as np
import torch

CIFAR_RECORD = 1 + 3 * 32 * 32


def _open(path):
    for p, opener in ((path, open), (path + ".gz", gzip.open), (path + ".xz", lzma.open)):
        if os.path.exists(p):
            with opener(p, "rb") as f:
                return f.read()
    raise FileNotFoundError(f"{path}: not found (nor .gz / .xz)")


def cifar10(directory, train):
    names = [f"data_batch_{i}.bin" for i in range(1, 6)] if train else ["test_batch.bin"]
    rec = []
    for name in names:
        blob = _open(os.path.join(directory, name))
        if len(blob) % CIFAR_RECORD:
            raise ValueError(f"{directory}/{name}: {len(blob)} bytes is not a whole number of {CIFAR_RECORD}-byte records")
        rec.append(np.frombuffer(blob, np.uint8).reshape(-1, CIFAR_RECORD))
    r = np.concatenate(rec)
    return torch.from_numpy(r[:, 1:].reshape(-1, 3, 32, 32).copy()), torch.from_numpy(r[:, 0].astype(np.int64))


def fashion_mnist(directory, train):
    prefix = "train" if train else "t10k"
    images = np.frombuffer(_open(os.path.join(directory, f"{prefix}-images-idx3-ubyte")), np.uint8, offset=16)
    labels = np.frombuffer(_open(os.path.join(directory, f"{prefix}-labels-idx1-ubyte")), np.uint8, offset=8)
    return torch.from_numpy(images.reshape(-1, 1, 28, 28).copy()), torch.from_numpy(labels.astype(np.int64))


def load(dataset, directory, train):
    if dataset == "cifar10":
        return cifar10(directory, train)
    if dataset in ("fashion-mnist", "fashionMNIST", "fashion_mnist"):
        return fashion_mnist(directory, train)
    raise ValueError(f"unknown dataset '{dataset}' (cifar10, fashion-mnist)")


def normalize(u8, normalization):
    mean = torch.tensor(normalization["mean"], dtype=torch.float32, device=u8.device).view(1, -1, 1, 1)
    std = torch.tensor(normalization["std"], dtype=torch.float32, device=u8.device).view(1, -1, 1, 1)
    return (u8.float() / 255 - mean) / std
