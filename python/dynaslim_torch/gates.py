"""The dynamic-slimming gate rule, as Sources/DynaSlimSlimming/GateRule.swift (docs/design.md "Gate rule").

Per gated layer l with a_c = |gamma_c| and sample i: lo = min a, hi = second-largest a (both detached);
t_il = lo + sigmoid(o_il) (hi - lo); tau = max(tau_scale (hi - lo), 1e-6); hard mask [a_c >= t_il] forward,
soft mask sigmoid((a_c - t_il) / tau) backward (straight-through). Rate r_i = sum_l w_l (1 - mean_c soft)
with a detached; expected rate R_i by the variance, uniform or oracle rule; T_e ramped from 0 to T.
"""
import torch

RATE_TARGETS = ("variance", "uniform", "oracle")


def gamma_range(a):
    """(lo, hi) of |gamma| for one layer: min and the second largest (the max for one channel)."""
    lo = a.min()
    hi = a.topk(2).values[1] if a.numel() > 1 else a.max()
    return lo.detach(), hi.detach()


def tau(lo, hi, scale):
    return torch.clamp(scale * (hi - lo), min=1e-6)


def scheduled_target(target, progress, epoch_ratio, epochs):
    """T_e = T * min(1, progress / (epoch_ratio * epochs)), progress in (fractional) epochs."""
    ramp = epoch_ratio * epochs
    return target if ramp <= 0 else target * min(1.0, progress / ramp)


def class_variance(probs):
    """Unbiased variance over classes of each softmax row [n, C] -> [n]."""
    return probs.var(dim=1, unbiased=True) if probs.shape[1] > 1 else torch.zeros(probs.shape[0])


def expected_rates(v, te, kappa, r_max, rule):
    """R_i from per-sample variances (variance rule) or oracle rates (oracle rule), [n] -> [n]."""
    if rule == "uniform":
        return torch.full_like(v, min(max(te, 0.0), r_max))
    mean = v.mean()
    if mean <= 0:
        return torch.full_like(v, min(max(te, 0.0), r_max))
    shaped = te * (v / mean) if rule == "oracle" else te * torch.pow(v / mean, kappa)
    return torch.clamp(shaped, 0.0, r_max)
