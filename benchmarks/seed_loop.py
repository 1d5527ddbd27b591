"""The seed document's vanilla GAN training loop (section 4), kept as a performance baseline.

A verbatim copy of the seed tutorial's reference `seed_loop.py`.

Unchanged from the seed except: the data root is an argument (torchvision MNIST layout,
<root>/MNIST/raw/*-ubyte, uncompressed, writable), download is off, the run stops after
a step cap, and it prints its throughput on the last line.

    python seed_loop.py DATA_ROOT [STEPS]
"""
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
import torchvision.transforms as transforms

root = sys.argv[1]
steps_cap = int(sys.argv[2]) if len(sys.argv) > 2 else 600

transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
trainset = torchvision.datasets.MNIST(root=root, train=True, download=False, transform=transform)
trainloader = torch.utils.data.DataLoader(trainset, batch_size=100, shuffle=True, num_workers=2)


class Generator(nn.Module):
    def __init__(self, input_size, hidden_size, output_size):
        super().__init__()
        self.fc1 = nn.Linear(input_size, hidden_size)
        self.fc2 = nn.Linear(hidden_size, hidden_size)
        self.fc3 = nn.Linear(hidden_size, output_size)

    def forward(self, x):
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return torch.tanh(self.fc3(x))


class Discriminator(nn.Module):
    def __init__(self, input_size, hidden_size, output_size):
        super().__init__()
        self.fc1 = nn.Linear(input_size, hidden_size)
        self.fc2 = nn.Linear(hidden_size, hidden_size)
        self.fc3 = nn.Linear(hidden_size, output_size)

    def forward(self, x):
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return torch.sigmoid(self.fc3(x))


device = torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
G = Generator(100, 256, 784).to(device)
D = Discriminator(784, 256, 1).to(device)
criterion = nn.BCELoss()
optimizer_G = torch.optim.Adam(G.parameters(), lr=0.0002)
optimizer_D = torch.optim.Adam(D.parameters(), lr=0.0002)

steps = 0
t0 = time.time()
while steps < steps_cap:
    for i, (real_images, _) in enumerate(trainloader):
        real_images = real_images.view(-1, 784).to(device)
        real_labels = torch.ones(real_images.size(0), 1).to(device)
        fake_labels = torch.zeros(real_images.size(0), 1).to(device)

        optimizer_D.zero_grad()
        d_loss_real = criterion(D(real_images), real_labels)
        d_loss_real.backward()
        z = torch.randn(real_images.size(0), 100).to(device)
        fake_images = G(z)
        d_loss_fake = criterion(D(fake_images.detach()), fake_labels)
        d_loss_fake.backward()
        d_loss = d_loss_real + d_loss_fake
        optimizer_D.step()

        optimizer_G.zero_grad()
        g_loss = criterion(D(fake_images), real_labels)
        g_loss.backward()
        optimizer_G.step()

        if (i + 1) % 100 == 0:
            print(f"Step [{i+1}/{len(trainloader)}], d_loss: {d_loss.item()}, g_loss: {g_loss.item()}")
        steps += 1
        if steps >= steps_cap:
            break
seconds = time.time() - t0
print(f"seed_loop steps={steps} batch=100 seconds={seconds:.2f} images_per_s={steps * 100 / seconds:.0f}")
