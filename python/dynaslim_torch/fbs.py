"""Feature Boosting and Suppression (Gao et al. 2019) in PyTorch, as Sources/DynaSlimSlimming/FBS.swift:
per gated layer and input, g = mean over the plane of |producer input| (a constant), s = relu(W g + b);
the top ceil(d C) channels of W g + b (ties to the lower index) keep their saliency as the multiplier of
the BN + ReLU output, the others are zeroed; training adds lambda * sum of the kept saliencies. The
saliency predictors are saved as "fbs.<gated layer>.weight / .bias"."""
import math
import numpy as np
import torch
import torch.nn as nn

from .accounting import MACAccounting
from .models import gated_layers

DEFAULTS = {"density": 0.5, "epochRatio": 0.5, "lambda": 1e-8}


class FBSNet(nn.Module):
    def __init__(self, backbone, model_config, config=None):
        super().__init__()
        self.backbone = backbone
        self.config = dict(DEFAULTS, **(config or {}))
        self.gated = gated_layers(backbone)
        self.predictors = nn.ModuleList()
        for g in self.gated:
            p = nn.Linear(g.producer.in_channels, g.bn.num_features)
            nn.init.normal_(p.weight, std=0.01)
            nn.init.constant_(p.bias, 1.0)
            self.predictors.append(p)
        c, h, w = model_config.get("inputChannels", 3), model_config.get("inputHeight", 32), model_config.get("inputWidth", 32)
        self.accounting = MACAccounting(backbone, self.gated, (c, h, w))
        self.density = self.config["density"]
        self._inputs, self._masks, self.saliency_l1 = [None] * len(self.gated), [None] * len(self.gated), 0
        for l, g in enumerate(self.gated):
            g.producer.register_forward_pre_hook(self._capture(l))
            g.relu.register_forward_hook(self._gate(l))

    def _capture(self, l):
        def hook(module, inp):
            self._inputs[l] = inp[0].detach()
        return hook

    def _gate(self, l):
        def hook(module, inp, out):
            g = self._inputs[l].abs().mean(dim=(2, 3))
            z = self.predictors[l](g)
            C = z.shape[1]
            k = self.kept(C)
            order = torch.sort(z.detach(), dim=1, descending=True, stable=True).indices[:, :k]
            keep = torch.zeros_like(z).scatter_(1, order, 1.0)
            mask = torch.relu(z) * keep
            self.saliency_l1 = self.saliency_l1 + mask.sum()
            return out * mask[:, :, None, None]
        return hook

    def state_dict_extra(self):
        """The saliency predictors under DynaSlim's names."""
        out = {}
        for g, p in zip(self.gated, self.predictors):
            out[f"fbs.{g.name}.weight"] = p.weight
            out[f"fbs.{g.name}.bias"] = p.bias
        return out

    def kept(self, channels):
        # In float32, rounded up, as the Swift side computes it.
        return max(1, min(channels, math.ceil(float(np.float32(self.density) * np.float32(channels)))))

    def predictor_macs(self):
        return sum(p.in_features * p.out_features for p in self.predictors)

    def scheduled_density(self, progress, epochs):
        ramp = self.config["epochRatio"] * epochs
        f = 1.0 if ramp <= 0 else min(1.0, progress / ramp)
        return 1 - (1 - self.config["density"]) * f

    def forward(self, x):
        self.saliency_l1 = 0
        return self.backbone(x)

    def fbs_loss(self):
        return self.config["lambda"] * self.saliency_l1
