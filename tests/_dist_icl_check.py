"""Run by tests/test_scripts.py under `torchrun --standalone --nproc_per_node 2`.

The ICL loss with negatives gathered from both processes, backpropagated and then averaged over the
processes as DDP does, must give the loss and the parameter gradients of one process that sees the
whole batch. Checked for equal local batches (the global-batch mean) and unequal ones (a last batch:
the mean of the two local means).
"""

import json
import sys

import torch
import torch.distributed as dist
import torch.nn.functional as F

from flip_hf.models.pretraining_heads import ContrastiveHead

TAU = 0.7


def reference(head, text, tab, sizes):
    """One process, all rows: per-row symmetric InfoNCE, weighted as the W local means are averaged."""
    z_text, z_tab = head(text, tab)
    logits = z_text @ z_tab.T / TAU
    labels = torch.arange(sum(sizes))
    per_row = F.cross_entropy(logits, labels, reduction="none") + F.cross_entropy(logits.T, labels, reduction="none")
    weights = torch.cat([torch.full((n,), 1.0 / (n * len(sizes))) for n in sizes])
    return (per_row / 2 * weights).sum()


def check(sizes, norm, rank, world):
    torch.manual_seed(0)
    text, tab = torch.randn(sum(sizes), 12), torch.randn(sum(sizes), 10)
    head = ContrastiveHead(12, 10, 8, norm)
    ref_head = ContrastiveHead(12, 10, 8, norm)
    ref_head.load_state_dict(head.state_dict())
    start = sum(sizes[:rank])
    z_text, z_tab = head(text[start : start + sizes[rank]], tab[start : start + sizes[rank]])
    local = ContrastiveHead.loss(z_text, z_tab, TAU)
    local.backward()
    for p in head.parameters():  # what DDP does: average the gradients over the processes
        dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
        p.grad /= world
    mean_loss = local.detach().clone()
    dist.all_reduce(mean_loss, op=dist.ReduceOp.SUM)
    expected = reference(ref_head, text, tab, sizes)
    expected.backward()
    grad_error = max(
        ((p.grad - q.grad).abs().max() / q.grad.abs().max().clamp(min=1e-12)).item()
        for p, q in zip(head.parameters(), ref_head.parameters())
    )
    loss_error = abs(mean_loss.item() / world - expected.item())
    return {"sizes": sizes, "norm": norm, "grad_rel_error": grad_error, "loss_error": loss_error}


dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
results = [check(sizes, norm, rank, world) for sizes in ([4, 4], [5, 3]) for norm in ("layernorm", "l2")]
ok = all(r["grad_rel_error"] < 1e-5 and r["loss_error"] < 1e-5 for r in results)
out = [None] * world
dist.all_gather_object(out, {"rank": rank, "ok": bool(ok), "results": results})
dist.barrier()
dist.destroy_process_group()
if rank == 0:
    print(json.dumps(out))
sys.exit(0 if ok else 1)
