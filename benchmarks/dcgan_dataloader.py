"""Benchmark c's baseline: DCGAN on MNIST as users commonly write it (the PyTorch-GAN style).

torchvision's MNIST dataset with per-sample transforms (ToTensor, Normalize), a DataLoader with
2 workers and shuffling, the same DCGAN architecture as ganzoo's `dcgan` networks for 28-px
images (G: 100 -> 7x7x128 -> 14x14x64 -> 28x28x1; D: 28 -> 14x14x64 -> 7x7x128 (BatchNorm) ->
1), sigmoid + BCELoss, Adam 2e-4 betas (0.5, 0.999), batch 128; the generator's images are
made once per step and reused, D's gradients computed in the G step too (nothing frozen).

    python dcgan_dataloader.py UNPACKED_ROOT STEPS
"""
import sys
import time

import torch
import torchvision
import torchvision.transforms as transforms
from torch import nn

root, steps = sys.argv[1], int(sys.argv[2])
transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
dataset = torchvision.datasets.MNIST(root=root, train=True, download=False, transform=transform)
loader = torch.utils.data.DataLoader(dataset, batch_size=128, shuffle=True, num_workers=2, drop_last=True)


def weights_init(m):
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


generator = nn.Sequential(
    nn.ConvTranspose2d(100, 128, 7, 1, 0, bias=False), nn.BatchNorm2d(128), nn.ReLU(True),
    nn.ConvTranspose2d(128, 64, 4, 2, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(True),
    nn.ConvTranspose2d(64, 1, 4, 2, 1, bias=False), nn.Tanh())
discriminator = nn.Sequential(
    nn.Conv2d(1, 64, 4, 2, 1), nn.LeakyReLU(0.2, True),
    nn.Conv2d(64, 128, 4, 2, 1, bias=False), nn.BatchNorm2d(128), nn.LeakyReLU(0.2, True),
    nn.Conv2d(128, 1, 7, 1, 0), nn.Flatten(), nn.Sigmoid())
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
generator.apply(weights_init).to(device)
discriminator.apply(weights_init).to(device)
adversarial_loss = nn.BCELoss()
optimizer_G = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
optimizer_D = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))

done, start = 0, time.perf_counter()
while done < steps:
    for imgs, _ in loader:
        imgs = imgs.to(device)
        valid = torch.ones(imgs.size(0), 1, device=device)
        fake = torch.zeros(imgs.size(0), 1, device=device)
        z = torch.randn(imgs.size(0), 100, 1, 1, device=device)
        gen_imgs = generator(z)
        optimizer_D.zero_grad()
        d_loss = (adversarial_loss(discriminator(imgs), valid)
                  + adversarial_loss(discriminator(gen_imgs.detach()), fake)) / 2
        d_loss.backward()
        optimizer_D.step()
        optimizer_G.zero_grad()
        g_loss = adversarial_loss(discriminator(gen_imgs), valid)
        g_loss.backward()
        optimizer_G.step()
        done += 1
        if done >= steps:
            break
if device.type == "cuda":
    torch.cuda.synchronize()
seconds = time.perf_counter() - start
print(f"dcgan_dataloader steps={done} seconds={seconds:.2f} images_per_s={done * 128 / seconds:.0f}")
