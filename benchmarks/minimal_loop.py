"""Benchmark b's baseline: the vanilla GAN step written by hand, the practical limit.

The same model and maths as recipes/vanilla_mnist.yaml (MLP G and D, BCE on logits, Adam 2e-4
with the fused kernel, batch 100, one G forward per step reused by the G update, D frozen during
the G update), with the training set held as one uint8 tensor and index-sampled batches. No
logging, no checkpoints, nothing but the maths.

    python minimal_loop.py DATA_ROOT STEPS
"""
import gzip
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

root, steps = sys.argv[1], int(sys.argv[2])
raw = gzip.open(f"{root}/MNIST/raw/train-images-idx3-ubyte.gz").read()
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
images = torch.from_numpy(np.frombuffer(raw, dtype=np.uint8, offset=16).copy()).view(-1, 1, 28, 28).to(device)
torch.manual_seed(0)
G = nn.Sequential(nn.Linear(100, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 784),
                  nn.Tanh()).to(device)
D = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                  nn.Linear(256, 1)).to(device)
opt_G = torch.optim.Adam(G.parameters(), lr=2e-4, fused=True)
opt_D = torch.optim.Adam(D.parameters(), lr=2e-4, fused=True)
perm, cursor = torch.randperm(len(images), device=device), 0
start = time.perf_counter()
for step in range(steps):
    if cursor + 100 > len(perm):
        perm, cursor = torch.randperm(len(images), device=device), 0
    real = images[perm[cursor:cursor + 100]].float().div_(255).sub_(0.5).div_(0.5)
    cursor += 100
    fake = G(torch.randn(100, 100, device=device)).view(-1, 1, 28, 28)
    opt_D.zero_grad(set_to_none=True)
    real_out, fake_out = D(real), D(fake.detach())
    d_loss = (F.binary_cross_entropy_with_logits(real_out, torch.ones_like(real_out))
              + F.binary_cross_entropy_with_logits(fake_out, torch.zeros_like(fake_out)))
    d_loss.backward()
    opt_D.step()
    D.requires_grad_(False)
    opt_G.zero_grad(set_to_none=True)
    out = D(fake)
    F.binary_cross_entropy_with_logits(out, torch.ones_like(out)).backward()
    opt_G.step()
    D.requires_grad_(True)
if device.type == "cuda":
    torch.cuda.synchronize()
seconds = time.perf_counter() - start
print(f"minimal_loop steps={steps} seconds={seconds:.2f} images_per_s={steps * 100 / seconds:.0f}")
