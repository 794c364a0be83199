"""The project's models, layer for layer as Sources/DynaSlimNN/Models.swift builds them, with the
same PyTorch state_dict names:

- CIFAR ResNet-(6n+2) with option-A (zero-padding) shortcuts: conv1, bn1,
  layer{1,2,3}.{i}.{conv1,bn1,conv2,bn2}, linear. A shortcut that changes shape subsamples by 2 and
  pads (planes - in_planes) // 2 zero channels before and the rest after.
- M-CifarNet (FBS): eight 3x3 conv (no bias) -> BN -> ReLU blocks of 64 (unpadded), 64, 128 s2,
  128, 128, 192 s2, 192, 192 channels, dropout after the 3rd and 6th, global average pool, 1x1 conv
  classifier with bias; names features.{i}, classifier.
- VGG-16/19 with BN (Network Slimming's CIFAR variant): feature.{i}, global average pool, classifier.

`widths` maps a gated BN's name (layer1.0.bn1, features.1, feature.1) to its kept channel count, as
a statically thinned DynaSlim checkpoint's `widths` does.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

ARCHITECTURES = ["resnet20", "resnet32", "resnet44", "resnet56", "resnet110", "mcifarnet", "vgg16", "vgg19"]


class BasicBlock(nn.Module):
    def __init__(self, in_planes, planes, mid, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, mid, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.relu1 = nn.ReLU()  # a hook point for channel gates (no state_dict entries)
        self.conv2 = nn.Conv2d(mid, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.stride, self.in_planes, self.planes = stride, in_planes, planes

    def shortcut(self, x):
        if self.stride == 1 and self.in_planes == self.planes:
            return x
        extra = self.planes - self.in_planes
        return F.pad(x[:, :, ::self.stride, ::self.stride], (0, 0, 0, 0, extra // 2, extra - extra // 2))

    def forward(self, x):
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    def __init__(self, depth, in_channels=3, classes=10, widths=None):
        super().__init__()
        assert (depth - 2) % 6 == 0, "resnet depth must be 6n+2"
        n, widths = (depth - 2) // 6, widths or {}
        self.conv1 = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        in_planes = 16
        for stage, planes in enumerate([16, 32, 64]):
            blocks = []
            for i in range(n):
                stride = 2 if stage > 0 and i == 0 else 1
                mid = widths.get(f"layer{stage + 1}.{i}.bn1", planes)
                blocks.append(BasicBlock(in_planes, planes, mid, stride))
                in_planes = planes
            setattr(self, f"layer{stage + 1}", nn.Sequential(*blocks))
        self.linear = nn.Linear(64, classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        return self.linear(F.adaptive_avg_pool2d(out, 1).flatten(1))


class MCifarNet(nn.Module):
    SPEC = [(64, 1, 0), (64, 1, 1), (128, 2, 1), (128, 1, 1), (128, 1, 1), (192, 2, 1), (192, 1, 1), (192, 1, 1)]

    def __init__(self, in_channels=3, classes=10, dropout=0.3, widths=None):
        super().__init__()
        widths, layers, c_in = widths or {}, [], in_channels
        for k, (c, s, p) in enumerate(self.SPEC):
            out = widths.get(f"features.{len(layers) + 1}", c)
            layers += [nn.Conv2d(c_in, out, 3, s, p, bias=False), nn.BatchNorm2d(out), nn.ReLU()]
            if k in (2, 5):
                layers.append(nn.Dropout(dropout))
            c_in = out
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Conv2d(c_in, classes, 1, bias=True)

    def forward(self, x):
        return self.classifier(F.adaptive_avg_pool2d(self.features(x), 1)).flatten(1)


class VGG(nn.Module):
    CFG = {"vgg16": [64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512],
           "vgg19": [64, 64, 0, 128, 128, 0, 256, 256, 256, 256, 0, 512, 512, 512, 512, 0, 512, 512, 512, 512]}

    def __init__(self, name, in_channels=3, classes=10, widths=None):
        super().__init__()
        widths, layers, c_in = widths or {}, [], in_channels
        for v in self.CFG[name]:
            if v == 0:
                layers.append(nn.MaxPool2d(2, 2))
                continue
            out = widths.get(f"feature.{len(layers) + 1}", v)
            layers += [nn.Conv2d(c_in, out, 3, 1, 1, bias=False), nn.BatchNorm2d(out), nn.ReLU()]
            c_in = out
        self.feature = nn.Sequential(*layers)
        self.classifier = nn.Linear(c_in, classes)

    def forward(self, x):
        return self.classifier(F.adaptive_avg_pool2d(self.feature(x), 1).flatten(1))


class GatedLayer:
    """A prunable channel set, as Sources/DynaSlimNN/Network.swift's GatedLayer: producer conv -> BN
    (importance |gamma|) -> ReLU (where gates multiply) -> consumer (conv input channels or the
    classifier's features)."""

    def __init__(self, name, producer, bn, relu, consumer):
        self.name, self.producer, self.bn, self.relu, self.consumer = name, producer, bn, relu, consumer


def gated_layers(model):
    """The model's gated layers in forward order (ResNet: each block's bn1; M-CifarNet / VGG: every BN)."""
    if isinstance(model, CifarResNet):
        out = []
        for s in (1, 2, 3):
            for i, b in enumerate(getattr(model, f"layer{s}")):
                out.append(GatedLayer(f"layer{s}.{i}.bn1", b.conv1, b.bn1, b.relu1, b.conv2))
        return out
    seq, prefix = (model.features, "features") if isinstance(model, MCifarNet) else (model.feature, "feature")
    idx = [i for i, m in enumerate(seq) if isinstance(m, nn.Conv2d)]
    out = []
    for k, i in enumerate(idx):
        consumer = seq[idx[k + 1]] if k + 1 < len(idx) else model.classifier
        out.append(GatedLayer(f"{prefix}.{i + 1}", seq[i], seq[i + 1], seq[i + 2], consumer))
    return out


def build_model(config):
    """A model from DynaSlim's architecture record (ModelConfig's keys: architecture, inputChannels,
    classes, dropout, widths)."""
    a = config["architecture"].lower()
    c, k, w = config.get("inputChannels", 3), config.get("classes", 10), config.get("widths")
    if a.startswith("resnet"):
        return CifarResNet(int(a[6:]), c, k, w)
    if a == "mcifarnet":
        return MCifarNet(c, k, config.get("dropout", 0.3), w)
    if a in VGG.CFG:
        return VGG(a, c, k, w)
    raise ValueError(f"unknown model '{a}'; known: {', '.join(ARCHITECTURES)}")
