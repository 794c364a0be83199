"""DynaSlim checkpoints in PyTorch: safetensors with PyTorch state_dict names and DynaSlim's records in the
metadata, the files `dynaslim eval`, `bench infer`, `report` and `train --from` read unchanged.

Metadata keys (strings): "format" = "pt"; "dynaslim.model" = the architecture record (ModelConfig: architecture,
inputChannels, inputHeight, inputWidth, classes, shortcut, gammaInit, dropout, widths when thinned);
"dynaslim.dynamic" = a dynamic model's gating configuration (its predictor saved under "predictor.");
"dynaslim.fbs" = an FBS model's configuration (its saliency predictors under "fbs.<layer>."); and, for runs,
"dynaslim.normalization" ({"mean": [...], "std": [...]}), "dynaslim.dataset", "dynaslim.train".
Writes go to a temporary file, fsync'd and renamed over the target: a kill leaves the old file or the new.
"""
import json
import os

import torch
from safetensors import safe_open
from safetensors.torch import save as st_save

from .dynamic import DynamicNet
from .fbs import FBSNet
from .models import build_model

MODEL_KEY, DYNAMIC_KEY, FBS_KEY = "dynaslim.model", "dynaslim.dynamic", "dynaslim.fbs"
MODEL_DEFAULTS = {"inputChannels": 3, "inputHeight": 32, "inputWidth": 32, "classes": 10, "shortcut": "A", "gammaInit": 1,
                  "dropout": 0.3}


def compact(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def model_config(architecture, **overrides):
    """A complete architecture record (every key the Swift ModelConfig decoder requires)."""
    return dict(MODEL_DEFAULTS, architecture=architecture, **overrides)


def read(path):
    """(tensors by name, metadata) of a safetensors file."""
    with safe_open(path, framework="pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata() or {})


def load(path):
    """The model in `path`: a plain nn.Module (dense or thinned), a DynamicNet or an FBSNet, in eval mode,
    with the file's metadata."""
    tensors, meta = read(path)
    if MODEL_KEY not in meta:
        raise ValueError(f"{path}: no {MODEL_KEY} metadata (not a DynaSlim checkpoint)")
    cfg = json.loads(meta[MODEL_KEY])
    backbone = build_model(cfg)
    prefix_free = {k: v for k, v in tensors.items() if not (k.startswith("predictor.") or k.startswith("fbs."))}
    backbone.load_state_dict(prefix_free, strict=True)
    if DYNAMIC_KEY in meta:
        model = DynamicNet(backbone, cfg, json.loads(meta[DYNAMIC_KEY]))
        model.predictor.load_state_dict({k[len("predictor."):]: v for k, v in tensors.items() if k.startswith("predictor.")}, strict=True)
    elif FBS_KEY in meta:
        model = FBSNet(backbone, cfg, json.loads(meta[FBS_KEY]))
        with torch.no_grad():
            for name, p in model.state_dict_extra().items():
                p.copy_(tensors[name])
    else:
        model = backbone
    model.eval()
    return model, meta


def state_tensors(model):
    """Every tensor of the model under DynaSlim's names (contiguous CPU copies)."""
    if isinstance(model, DynamicNet):
        out = dict(model.backbone.state_dict())
        out.update({"predictor." + k: v for k, v in model.predictor.state_dict().items()})
    elif isinstance(model, FBSNet):
        out = dict(model.backbone.state_dict())
        out.update(model.state_dict_extra())
    else:
        out = dict(model.state_dict())
    return {k: v.detach().cpu().contiguous() for k, v in out.items()}


def save(path, model, cfg, metadata=None):
    """Writes `model` (architecture record `cfg`) atomically, with `metadata` added."""
    meta = {"format": "pt", MODEL_KEY: compact(cfg)}
    if isinstance(model, DynamicNet):
        meta[DYNAMIC_KEY] = compact(model.config)
    elif isinstance(model, FBSNet):
        meta[FBS_KEY] = compact(model.config)
    meta.update(metadata or {})
    write_atomic(path, st_save(state_tensors(model), metadata=meta))


def write_atomic(path, data):
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    dirfd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    try:
        os.fsync(dirfd)
    finally:
        os.close(dirfd)
