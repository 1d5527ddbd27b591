"""The TF-Inception network every published FID, KID and IS is computed on.

features  inception_fid: pool3 (2048-d) of the 2015-12-05 TensorFlow Inception graph, ported to
          PyTorch by pytorch-fid (`pt_inception-2015-12-05-6726825d.pth`), with that graph's
          quirks: average pools that leave padding out of the average, and a max pool in the
          last block. Its 1008-way softmax gives the Inception Score.

The weights are read from a local file, never downloaded at run time: $GANZOO_INCEPTION_WEIGHTS,
else `pt_inception-2015-12-05-6726825d.pth` in the cache folder ($GANZOO_CACHE, ~/.cache/ganzoo).

Resizing to 299x299 moves FID by points (Parmar et al. 2022, clean-fid), so it is a setting that
goes into every fingerprint ($GANZOO_INCEPTION_RESIZE):
  legacy  bilinear on the float image, as pytorch-fid and the original TF code (the default:
          comparable with most published numbers)
  clean   PIL bicubic on each channel of the 0-255 image, as clean-fid
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ganzoo import Component, FeatureNet, GanzooError, NoOptions, cache_dir, hookimpl

WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
WEIGHTS_URL = f"https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/{WEIGHTS_FILE}"
WEIGHTS_ENV, RESIZE_ENV = "GANZOO_INCEPTION_WEIGHTS", "GANZOO_INCEPTION_RESIZE"
RESIZE_MODES = ("legacy", "clean")


def tf_inception() -> nn.Module:
    """torchvision's Inception-v3 with the TF graph's blocks (1008 classes, no aux head), untrained."""
    import torchvision.models.inception as tv

    class BlockA(tv.InceptionA):
        def forward(self, x):
            b5 = self.branch5x5_2(self.branch5x5_1(x))
            b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
            pool = self.branch_pool(F.avg_pool2d(x, 3, 1, 1, count_include_pad=False))
            return torch.cat([self.branch1x1(x), b5, b3, pool], 1)

    class BlockC(tv.InceptionC):
        def forward(self, x):
            b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
            d = x
            for layer in (self.branch7x7dbl_1, self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4,
                          self.branch7x7dbl_5):
                d = layer(d)
            pool = self.branch_pool(F.avg_pool2d(x, 3, 1, 1, count_include_pad=False))
            return torch.cat([self.branch1x1(x), b7, d, pool], 1)

    class BlockE(tv.InceptionE):
        max_pool = False  # the graph's last block pools by max (an error of the graph, kept for parity)

        def forward(self, x):
            b3 = self.branch3x3_1(x)
            b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
            d = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
            d = torch.cat([self.branch3x3dbl_3a(d), self.branch3x3dbl_3b(d)], 1)
            pooled = (F.max_pool2d(x, 3, 1, 1) if self.max_pool
                      else F.avg_pool2d(x, 3, 1, 1, count_include_pad=False))
            return torch.cat([self.branch1x1(x), b3, d, self.branch_pool(pooled)], 1)

    class BlockEMax(BlockE):
        max_pool = True

    net = tv.Inception3(num_classes=1008, aux_logits=False, init_weights=False)
    net.Mixed_5b, net.Mixed_5c, net.Mixed_5d = BlockA(192, 32), BlockA(256, 64), BlockA(288, 64)
    net.Mixed_6b, net.Mixed_6c = BlockC(768, 128), BlockC(768, 160)
    net.Mixed_6d, net.Mixed_6e = BlockC(768, 160), BlockC(768, 192)
    net.Mixed_7b, net.Mixed_7c = BlockE(1280), BlockEMax(2048)
    return net


def weights_path() -> Path:
    return Path(os.environ.get(WEIGHTS_ENV) or cache_dir() / WEIGHTS_FILE).expanduser()


def resize_mode() -> str:
    mode = os.environ.get(RESIZE_ENV, "legacy")
    if mode not in RESIZE_MODES:
        raise GanzooError(f"{RESIZE_ENV}: {mode!r} is not a resize mode; expected one of {', '.join(RESIZE_MODES)}")
    return mode


def clean_resize(images: torch.Tensor) -> torch.Tensor:
    """clean-fid's resize: the 0-255 image, each channel as a float PIL image, bicubic to 299."""
    import numpy as np
    from PIL import Image

    pixels = images.detach().float().cpu().clamp(-1, 1).add(1).mul(127.5).round().numpy()  # back to 0..255
    out = np.empty((len(pixels), pixels.shape[1], 299, 299), dtype=np.float32)
    for i, image in enumerate(pixels):
        for c, channel in enumerate(image):
            out[i, c] = np.asarray(Image.fromarray(channel, mode="F").resize((299, 299), Image.BICUBIC))
    return torch.from_numpy(out).clamp_(0, 255).div_(255)


class TFInceptionFeatures(FeatureNet):
    layer = "pool3 (2048-d)"
    num_classes = 1008

    def __init__(self, device, path: Path | None = None, resize: str | None = None, batch_size: int = 100):
        self.resize = resize or resize_mode()
        path = path or weights_path()
        if not path.is_file():
            raise GanzooError(f"features inception_fid: weights file {path} not found (ganzoo downloads nothing at "
                              f"run time); get it from {WEIGHTS_URL} and save it there, or set {WEIGHTS_ENV}")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            net = tf_inception()
            net.load_state_dict(state)
        except Exception as exc:  # noqa: BLE001 - unreadable, foreign or mis-shaped weights alike
            raise GanzooError(f"{path}: not the TF-Inception FID weights ({WEIGHTS_FILE}): "
                              f"{str(exc).splitlines()[0][:120]}") from None
        self.net = net.to(device).eval()
        self.device, self.batch_size = device, batch_size
        self.name = "inception_fid"
        self.weights_hash = hashlib.sha256(path.read_bytes()).hexdigest()

    def fingerprint(self):
        return {**super().fingerprint(), "resize": self.resize}

    def _inputs(self, images: torch.Tensor) -> torch.Tensor:
        """[-1, 1] images (N, 1 or 3, H, W) as the graph takes them: 3 channels, 299x299, [-1, 1]."""
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        if self.resize == "clean":
            x = clean_resize(images).to(self.device)
        else:  # pytorch-fid: bilinear on the [0, 1] image
            x = F.interpolate(images.to(self.device, torch.float32).add(1).div(2), size=(299, 299),
                              mode="bilinear", align_corners=False)
        return 2 * x - 1

    @torch.no_grad()
    def _pool3(self, images: torch.Tensor) -> torch.Tensor:
        n = self.net
        x = self._inputs(images)
        for layer in (n.Conv2d_1a_3x3, n.Conv2d_2a_3x3, n.Conv2d_2b_3x3, n.maxpool1, n.Conv2d_3b_1x1,
                      n.Conv2d_4a_3x3, n.maxpool2, n.Mixed_5b, n.Mixed_5c, n.Mixed_5d, n.Mixed_6a, n.Mixed_6b,
                      n.Mixed_6c, n.Mixed_6d, n.Mixed_6e, n.Mixed_7a, n.Mixed_7b, n.Mixed_7c):
            x = layer(x)
        return F.adaptive_avg_pool2d(x, 1).flatten(1)

    def _batched(self, fn, images):
        return torch.cat([fn(images[i:i + self.batch_size]) for i in range(0, len(images), self.batch_size)])

    def features(self, images):
        return self._batched(self._pool3, images)

    @torch.no_grad()
    def probabilities(self, images):
        return self._batched(lambda x: F.softmax(self.net.fc(self._pool3(x)), dim=1), images)


@hookimpl
def ganzoo_add_components():
    return [Component("features", "inception_fid", lambda o, ctx: TFInceptionFeatures(ctx.device), NoOptions,
                      "TF-Inception pool3, the network of published FIDs (pytorch-fid's weights file)")]
