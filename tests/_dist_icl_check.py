"""Run by tests/test_scripts.py under `torchrun --nproc_per_node 2`: the ICL loss with negatives
gathered from both processes must equal the single-process loss over the concatenated batch."""

import json
import sys

import torch
import torch.distributed as dist

from flip_hf.pretraining_heads import ContrastiveHead

dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
torch.manual_seed(0)
sizes = [5, 3]  # unequal local batches (a last batch)
text = torch.randn(sum(sizes), 16)
tab = torch.randn(sum(sizes), 16)
start = sum(sizes[:rank])
z_text = text[start : start + sizes[rank]].clone().requires_grad_(True)
z_tab = tab[start : start + sizes[rank]].clone().requires_grad_(True)
local = ContrastiveHead.loss(z_text, z_tab, tau=0.7)
local.backward()
logits = text @ tab.T / 0.7
labels = torch.arange(sum(sizes))
per_row = (
    torch.nn.functional.cross_entropy(logits, labels, reduction="none")
    + torch.nn.functional.cross_entropy(logits.T, labels, reduction="none")
) / 2
expected_local = per_row[start : start + sizes[rank]].mean()
ok = (
    torch.allclose(local.detach(), expected_local, atol=1e-5) and z_text.grad is not None and z_tab.grad.abs().sum() > 0
)
out = [None] * world
dist.all_gather_object(
    out, {"rank": rank, "ok": bool(ok), "local": float(local.detach()), "expected": float(expected_local)}
)
dist.barrier()
dist.destroy_process_group()
if rank == 0:
    print(json.dumps(out))
sys.exit(0 if all(o["ok"] for o in out) else 1)
