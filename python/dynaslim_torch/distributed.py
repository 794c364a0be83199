"""Multi-process training with torch.distributed (torchrun + DistributedDataParallel).

A run with W processes and global batch B gives every process the same global batch order and
augmentation draws and takes its contiguous B / W slice, so what it computes is the single-process run's
step split W ways. Batch norm is the one layer that sees the batch as a whole: on GPUs torch's
SyncBatchNorm reduces its statistics across processes; on CPUs (which SyncBatchNorm does not support)
GlobalBatchNorm2d below does the same with all_reduce over the gloo backend. With it, a W-process run's
checkpoint equals the single-process run's up to float summation order (tested with 2 processes).
"""
import os

import torch
import torch.distributed as dist
import torch.nn as nn


def setup():
    """(rank, world size, device) from torchrun's environment; a plain process is rank 0 of 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    rank = dist.get_rank() if world > 1 else 0
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        return rank, world, torch.device("cuda", local)
    return rank, world, torch.device("cpu")


def all_sum(t):
    """Sum of `t` over every process (in place), or `t` alone."""
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(t)
    return t


class _GlobalBN(torch.autograd.Function):
    """y = gamma (x - mean) invstd + beta with the batch statistics of every process; the backward reduces
    sum(dy) and sum(dy * xhat) over the processes too (the exact gradient of the global-batch BN)."""

    @staticmethod
    def forward(ctx, x, weight, bias, mean, invstd, m):
        xhat = (x - mean[None, :, None, None]) * invstd[None, :, None, None]
        ctx.save_for_backward(xhat, weight, invstd)
        ctx.m = m
        return xhat * weight[None, :, None, None] + bias[None, :, None, None]

    @staticmethod
    def backward(ctx, dy):
        xhat, weight, invstd = ctx.saved_tensors
        C = dy.shape[1]
        local = torch.cat([dy.sum((0, 2, 3)), (dy * xhat).sum((0, 2, 3))])
        dbeta, dgamma = local[:C].clone(), local[C:].clone()
        total = all_sum(local)
        sum_dy, sum_dy_xhat = total[:C], total[C:]
        dx = (weight * invstd)[None, :, None, None] / ctx.m * (
            ctx.m * dy - sum_dy[None, :, None, None] - xhat * sum_dy_xhat[None, :, None, None])
        return dx, dgamma, dbeta, None, None, None


class GlobalBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics cover every process's slice of the batch (CPU / gloo), with
    the same state_dict and running-statistics update as nn.BatchNorm2d (momentum, unbiased variance)."""

    def forward(self, x):
        if not self.training:
            return super().forward(x)
        C = x.shape[1]
        with torch.no_grad():
            stats = all_sum(torch.cat([x.sum((0, 2, 3)), (x * x).sum((0, 2, 3)),
                                       torch.tensor([x.numel() / C], dtype=x.dtype, device=x.device)]))
            m = stats[2 * C].item()
            mean = stats[:C] / m
            var = torch.clamp(stats[C:2 * C] / m - mean * mean, min=0)
            invstd = torch.rsqrt(var + self.eps)
            if self.track_running_stats and self.momentum:
                self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean)
                self.running_var.mul_(1 - self.momentum).add_(self.momentum * var * (m / max(m - 1, 1)))
            if self.track_running_stats:
                self.num_batches_tracked.add_(1)
        return _GlobalBN.apply(x, self.weight, self.bias, mean, invstd, m)

    @staticmethod
    def convert(module):
        """Replaces every BatchNorm2d in `module` by a GlobalBatchNorm2d with the same state (build the
        method's gates after this: they hold references to the BN modules)."""
        for name, child in module.named_children():
            if type(child) is nn.BatchNorm2d:
                g = GlobalBatchNorm2d(child.num_features, child.eps, child.momentum).to(child.weight.device)
                g.load_state_dict(child.state_dict())
                setattr(module, name, g)
            else:
                GlobalBatchNorm2d.convert(child)
        return module
