"""A differentiable all-gather for the contrastive loss under data parallelism (paper Section IV-A3:
in-batch negatives, here the negatives of every process).

Forward: every process's rows (local batches may differ in size). Backward: the gradient of a
process's rows is the SUM over processes of the gradients their losses send to those rows, so
that after DDP averages parameter gradients over the W processes, the update equals the
single-process update on the global batch with the loss averaged over the W local losses.
"""

from __future__ import annotations

import torch
import torch.distributed as dist


def _is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def _row_counts(x: torch.Tensor) -> list[int]:
    size = torch.tensor([x.shape[0]], device=x.device)
    sizes = [torch.zeros_like(size) for _ in range(dist.get_world_size())]
    dist.all_gather(sizes, size)
    return [int(s) for s in sizes]


class _GatherRows(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, sizes: list[int]) -> torch.Tensor:
        padded = x.new_zeros((max(sizes),) + tuple(x.shape[1:]))
        padded[: x.shape[0]] = x
        parts = [torch.zeros_like(padded) for _ in sizes]
        dist.all_gather(parts, padded)
        ctx.sizes = sizes
        return torch.cat([p[:n] for p, n in zip(parts, sizes)])

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        grad = grad.contiguous()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        rank = dist.get_rank()
        start = sum(ctx.sizes[:rank])
        return grad[start : start + ctx.sizes[rank]], None


def gather_rows(x: torch.Tensor) -> tuple[torch.Tensor, int]:
    """All processes' rows, differentiable, and the offset of this process's rows among them.

    Single process: ``(x, 0)``.
    """
    if not _is_distributed():
        return x, 0
    sizes = _row_counts(x)
    return _GatherRows.apply(x, sizes), sum(sizes[: dist.get_rank()])


__all__ = ["gather_rows"]
