"""Dynamic network slimming in PyTorch, as Sources/DynaSlimSlimming/DynamicSlimming.swift: a backbone, a
threshold predictor, and per-input channel gates on every gated layer's BN + ReLU output.

Forward: o = predictor(x) [n, L]; per layer t = lo + sigmoid(o) (hi - lo); the ReLU output is multiplied
by hard + soft - soft.detach() (value: the hard mask [|gamma| >= t]; gradient: the soft mask's, to t and
to |gamma|: the straight-through rule of the Swift trainer). `gate_loss` adds the rate term
alpha mean_i (r_i - R_i)^2 (r_i from soft masks with |gamma| detached) and lambda sum |gamma| over gated
BNs; its gradients equal the Swift trainer's hand-written ones (tests/test_parity via the Swift suite).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from .accounting import MACAccounting
from .gates import class_variance, expected_rates, gamma_range, tau as gate_tau
from .models import gated_layers
from .predictor import ThresholdPredictor

DEFAULTS = {"target": 0.5, "epochRatio": 0.5, "alpha": 10.0, "tauScale": 0.1, "kappa": 1.0, "rateTarget": "variance",
            "rMax": 0.95, "lambda": 1e-4, "predictorLRMultiplier": 10.0, "predictorBiasInit": -2.5, "hardRate": False,
            "predictorWidth": 8}


class DynamicNet(nn.Module):
    def __init__(self, backbone, model_config, config=None):
        super().__init__()
        self.backbone = backbone
        self.config = dict(DEFAULTS, **(config or {}))
        self.gated = gated_layers(backbone)
        c, h, w = model_config.get("inputChannels", 3), model_config.get("inputHeight", 32), model_config.get("inputWidth", 32)
        self.predictor = ThresholdPredictor(c, h, w, len(self.gated), self.config["predictorWidth"], self.config["predictorBiasInit"])
        self.accounting = MACAccounting(backbone, self.gated, (c, h, w))
        self._input_shape = (c, h, w)
        self.fixed_thresholds = None  # the static control: one threshold per layer for every input
        self._gates = [None] * len(self.gated)
        self.soft, self.kept, self.thresholds = [], None, None
        for l, g in enumerate(self.gated):
            g.relu.register_forward_hook(self._hook(l))

    def _hook(self, l):
        def apply(module, inp, out):
            m = self._gates[l]
            return out if m is None else out * m[:, :, None, None]
        return apply

    def backbone_state_dict(self):
        return self.backbone.state_dict()

    def forward(self, x):
        n = x.shape[0]
        o = None if self.fixed_thresholds is not None else self.predictor(x)
        self.soft, kept, ts = [], [], []
        for l, g in enumerate(self.gated):
            a = g.bn.weight.abs()
            lo, hi = gamma_range(a.detach())
            tau = gate_tau(lo, hi, self.config["tauScale"])
            t = (torch.full((n,), float(self.fixed_thresholds[l])) if o is None else lo + torch.sigmoid(o[:, l]) * (hi - lo))[:, None]
            hard = (a.detach()[None, :] >= t.detach()).to(x.dtype)
            soft = torch.sigmoid((a[None, :] - t) / tau)
            self._gates[l] = hard + soft - soft.detach()
            # The rate's soft mask: |gamma| detached, the threshold not.
            self.soft.append(torch.sigmoid((a.detach()[None, :] - t) / tau))
            kept.append(hard.sum(1))
            ts.append(t[:, 0])
        self.kept = torch.stack(kept, 1).detach()
        self.thresholds = torch.stack(ts, 1).detach()
        return self.backbone(x)

    def rates(self):
        """(soft rate [n] with gradient to the thresholds, hard rate [n])."""
        w = self.accounting.layer_weights
        soft = sum(w[l] * (1 - s.mean(1)) for l, s in enumerate(self.soft))
        widths = torch.tensor(self.accounting.widths, dtype=torch.float32)
        hard = ((1 - self.kept / widths) * torch.tensor(w, dtype=torch.float32)).sum(1)
        return soft, hard

    def gate_loss(self, probs, scheduled_target, oracle_rates=None):
        """alpha mean_i (r_i - R_i)^2 + lambda sum |gamma| over gated BNs, and the step's statistics."""
        c = self.config
        if c["rateTarget"] == "oracle":
            if oracle_rates is None or oracle_rates.shape[0] != probs.shape[0]:
                raise ValueError("the oracle rule needs one oracle rate per sample")
            v = oracle_rates
        else:
            v = class_variance(probs.detach())
        R = expected_rates(v, scheduled_target, c["kappa"], c["rMax"], c["rateTarget"])
        soft, hard = self.rates()
        r = hard + soft - soft.detach() if c["hardRate"] else soft
        rate_loss = c["alpha"] * ((r - R) ** 2).mean()
        l1 = c["lambda"] * sum(g.bn.weight.abs().sum() for g in self.gated)
        stats = {"soft_rate": soft.mean().item(), "hard_rate": hard.mean().item(), "expected_rate": R.mean().item(),
                 "rate_loss": rate_loss.item()}
        return rate_loss + l1, stats

    def predictor_macs(self):
        from .accounting import layer_macs
        c, h, w = self._input_shape
        return sum(layer_macs(self.predictor, (c, h, w)).values())

    def macs_per_sample(self):
        """Backbone MACs per image of each sample of the last forward."""
        return [self.accounting.macs(row.tolist()) for row in self.kept]
