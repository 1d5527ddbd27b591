"""DINOv2 features for the Fréchet distance FD_DINOv2 (Stein et al. 2023, "Exposing flaws of
generative model evaluation metrics": DINOv2 ViT-L/14 ranks generators as people do, where
Inception does not).

features  dinov2: the class token of DINOv2 (Oquab et al. 2023) after the final norm, from a
          local weights file, through timm (`pip install "ganzoo[dinov2]"`). As dgm-eval, the
          reference code: images resized to 224x224 (bicubic), ImageNet mean and std.

Weights: $GANZOO_DINOV2_WEIGHTS, else `dinov2_vitl14.safetensors` in the cache folder: timm's
`vit_large_patch14_dinov2.lvd142m` file (model.safetensors on the Hugging Face hub), loaded
through timm's own checkpoint filter (which resamples the position embedding to 224 px).
$GANZOO_DINOV2_MODEL names another timm DINOv2 model (e.g. vit_base_patch14_dinov2.lvd142m).
Nothing is downloaded at run time.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch
import torch.nn.functional as F

from ganzoo import Component, FeatureNet, GanzooError, NoOptions, cache_dir, hookimpl

MODEL_ENV, WEIGHTS_ENV = "GANZOO_DINOV2_MODEL", "GANZOO_DINOV2_WEIGHTS"
DEFAULT_MODEL = "vit_large_patch14_dinov2.lvd142m"
WEIGHTS_SOURCE = "https://huggingface.co/timm/vit_large_patch14_dinov2.lvd142m (model.safetensors)"
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def weights_path() -> Path:
    return Path(os.environ.get(WEIGHTS_ENV) or cache_dir() / "dinov2_vitl14.safetensors").expanduser()


class DINOv2Features(FeatureNet):
    layer = "class token after the final norm"

    def __init__(self, device, path: Path | None = None, model: str | None = None, batch_size: int = 50):
        try:
            import timm
        except ImportError:
            raise GanzooError('features dinov2: needs timm; pip install "ganzoo[dinov2]"') from None
        model = model or os.environ.get(MODEL_ENV, DEFAULT_MODEL)
        path = path or weights_path()
        if not path.is_file():
            raise GanzooError(f"features dinov2: weights file {path} not found (ganzoo downloads nothing at run "
                              f"time); get {WEIGHTS_SOURCE} and save it there, or set {WEIGHTS_ENV}")
        try:
            net = timm.create_model(model, pretrained=True, pretrained_cfg_overlay={"file": str(path)},
                                    img_size=224, num_classes=0)
        except Exception as exc:  # noqa: BLE001 - unknown model, foreign or mis-shaped weights alike
            raise GanzooError(f"{path}: not weights of timm's {model} ({str(exc).splitlines()[0][:140]})") from None
        self.net = net.to(device).eval()
        self.device, self.batch_size, self.model = device, batch_size, model
        self.name = "dinov2"
        self.weights_hash = hashlib.sha256(path.read_bytes()).hexdigest()
        self.mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)

    def fingerprint(self):
        return {**super().fingerprint(), "model": self.model, "resize": "bicubic 224"}

    @torch.no_grad()
    def _embed(self, images):
        x = images.to(self.device, torch.float32)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        x = F.interpolate(x.add(1).div(2), size=(224, 224), mode="bicubic", align_corners=False).clamp(0, 1)
        return self.net((x - self.mean) / self.std)

    def features(self, images):
        return torch.cat([self._embed(images[i:i + self.batch_size]) for i in range(0, len(images), self.batch_size)])


@hookimpl
def ganzoo_add_components():
    return [Component("features", "dinov2", lambda o, ctx: DINOv2Features(ctx.device), NoOptions,
                      "DINOv2 ViT-L/14 class token, for FD_DINOv2 (Stein et al. 2023); timm and a local weights file")]
