"""MACs of a model whose gated layers keep only some channels, as Sources/DynaSlimSlimming/MACAccounting.swift:
a conv's MACs scale with the kept fraction of its input channels (when it consumes a gated layer) times the
kept fraction of its output channels (when it produces one); each gated layer's rate weight w_l is its share
of the gated MACs (producer + consumer)."""
import torch
import torch.nn as nn


def layer_macs(model, input_shape):
    """MACs per image of every conv and linear module, by module, from one forward pass."""
    macs, hooks = {}, []

    def hook(m, inp, out):
        if isinstance(m, nn.Conv2d):
            macs[m] = out.shape[1] * out.shape[2] * out.shape[3] * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
        elif isinstance(m, nn.Linear):
            macs[m] = m.in_features * m.out_features
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            hooks.append(m.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, *input_shape))
    model.train(was_training)
    for h in hooks:
        h.remove()
    return macs


class MACAccounting:
    def __init__(self, model, gated, input_shape):
        macs = layer_macs(model, input_shape)
        self.dense = sum(macs.values())
        self.widths = [g.bn.num_features for g in gated]
        terms = {}
        for l, g in enumerate(gated):
            terms.setdefault(g.producer, [macs[g.producer], None, None])[2] = l
            terms.setdefault(g.consumer, [macs[g.consumer], None, None])[1] = l
        self.terms = list(terms.values())
        self.fixed = self.dense - sum(t[0] for t in self.terms)
        w = [0.0] * len(gated)
        for m, i, o in self.terms:
            if o is not None:
                w[o] += m
            if i is not None:
                w[i] += m
        total = sum(w)
        self.layer_weights = [x / total if total > 0 else 0.0 for x in w]

    def macs(self, kept):
        total = self.fixed
        for m, i, o in self.terms:
            if i is not None:
                m *= kept[i] / self.widths[i]
            if o is not None:
                m *= kept[o] / self.widths[o]
            total += m
        return total
