"""Benchmark b's baseline: the vanilla GAN step written by hand, the practical limit.

The same model and maths as recipes/vanilla_mnist.yaml (MLP G and D, BCE on logits, Adam 2e-4
with the fused kernel, batch 100, one G forward per step reused by the G update, D frozen during
the G update), with the training set held as one uint8 tensor and index-sampled batches. No
logging, no checkpoints, nothing but the maths. graph_ceiling.py reuses `build`, `batches` and `step`.

    python minimal_loop.py DATA_ROOT STEPS
"""
import gzip
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

BATCH = 100


def load_images(root: str, device) -> torch.Tensor:
    raw = gzip.open(f"{root}/MNIST/raw/train-images-idx3-ubyte.gz").read()
    return torch.from_numpy(np.frombuffer(raw, dtype=np.uint8, offset=16).copy()).view(-1, 1, 28, 28).to(device)


def build(device, **adam):
    """G, D and their Adam optimisers (fused unless other Adam options are given), seeded."""
    torch.manual_seed(0)
    G = nn.Sequential(nn.Linear(100, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 784),
                      nn.Tanh()).to(device)
    D = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                      nn.Linear(256, 1)).to(device)
    adam = adam or {"fused": True}
    return G, D, torch.optim.Adam(G.parameters(), lr=2e-4, **adam), torch.optim.Adam(D.parameters(), lr=2e-4, **adam)


def batches(images: torch.Tensor, steps: int):
    """`steps` index tensors of BATCH images each, drawn without replacement, reshuffled per epoch."""
    perm, cursor = torch.randperm(len(images), device=images.device), 0
    for _ in range(steps):
        if cursor + BATCH > len(perm):
            perm, cursor = torch.randperm(len(images), device=images.device), 0
        yield perm[cursor:cursor + BATCH]
        cursor += BATCH


def step(G, D, opt_G, opt_D, batch_u8, loss_sums=None, set_to_none=True):
    """One vanilla GAN step; with loss_sums, adds the D and G losses to it on the device."""
    real = batch_u8.float().div_(255).sub_(0.5).div_(0.5)
    fake = G(torch.randn(BATCH, 100, device=batch_u8.device)).view(-1, 1, 28, 28)
    opt_D.zero_grad(set_to_none=set_to_none)
    real_out, fake_out = D(real), D(fake.detach())
    d_loss = (F.binary_cross_entropy_with_logits(real_out, torch.ones_like(real_out))
              + F.binary_cross_entropy_with_logits(fake_out, torch.zeros_like(fake_out)))
    d_loss.backward()
    opt_D.step()
    D.requires_grad_(False)
    opt_G.zero_grad(set_to_none=set_to_none)
    out = D(fake)
    g_loss = F.binary_cross_entropy_with_logits(out, torch.ones_like(out))
    g_loss.backward()
    opt_G.step()
    D.requires_grad_(True)
    if loss_sums is not None:
        loss_sums.add_(torch.stack([d_loss.detach(), g_loss.detach()]))


def main() -> None:
    root, steps = sys.argv[1], int(sys.argv[2])
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    images = load_images(root, device)
    G, D, opt_G, opt_D = build(device)
    start = time.perf_counter()
    for idx in batches(images, steps):
        step(G, D, opt_G, opt_D, images[idx])
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    print(f"minimal_loop steps={steps} seconds={seconds:.2f} images_per_s={steps * BATCH / seconds:.0f}")


if __name__ == "__main__":
    main()
