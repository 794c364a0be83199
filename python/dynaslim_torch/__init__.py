"""DynaSlim in PyTorch: the project's models under the same state_dict names as the Swift trainer
(Sources/DynaSlimNN/Models.swift), so checkpoints cross between the two unchanged."""
from .models import build_model, ARCHITECTURES

__all__ = ["build_model", "ARCHITECTURES"]
