"""The threshold predictor of dynamic slimming, as Sources/DynaSlimSlimming/ThresholdPredictor.swift:
[2x average pool when the input is at least 16x16] -> conv3x3 (width) -> BN + ReLU -> conv3x3 stride 2
(2 x width) -> BN + ReLU -> global average pool -> linear to one output per gated layer. Saved under
"predictor." beside the backbone (names conv1, bn1, conv2, bn2, fc)."""
import torch.nn as nn
import torch.nn.functional as F


class ThresholdPredictor(nn.Module):
    def __init__(self, in_channels, height, width_px, outputs, width=8, bias_init=-2.5):
        super().__init__()
        self.pool = height >= 16 and width_px >= 16
        self.conv1 = nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, 2 * width, 3, 2, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(2 * width)
        self.fc = nn.Linear(2 * width, outputs)
        for conv in (self.conv1, self.conv2):
            nn.init.kaiming_normal_(conv.weight, mode="fan_in", nonlinearity="relu")
        nn.init.normal_(self.fc.weight, std=0.01)
        nn.init.constant_(self.fc.bias, bias_init)

    def forward(self, x):
        if self.pool:
            x = F.avg_pool2d(x, 2, 2)
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))
