"""DINOv2 features through timm, from a local weights file (test-made: random values, real names)."""
from __future__ import annotations

import pytest
import torch

from ganzoo import GanzooError

timm = pytest.importorskip("timm")
MODEL = "vit_small_patch14_dinov2.lvd142m"  # the small one: the same code path as ViT-L, 22M weights


def test_class_token_features_from_a_local_file(tmp_path):
    from safetensors.torch import save_file

    from ganzoo_plugins.dinov2 import DINOv2Features

    torch.manual_seed(0)
    reference = timm.create_model(MODEL, pretrained=False, img_size=224, num_classes=0).eval()
    save_file(reference.state_dict(), tmp_path / "weights.safetensors")
    net = DINOv2Features(torch.device("cpu"), path=tmp_path / "weights.safetensors", model=MODEL)
    images = torch.rand(3, 1, 28, 28) * 2 - 1  # grey and small: made 3-channel and 224 px
    features = net.features(images)
    assert features.shape == (3, 384)
    x = torch.nn.functional.interpolate(images.expand(-1, 3, -1, -1).add(1).div(2), size=224, mode="bicubic",
                                        align_corners=False).clamp(0, 1)
    x = (x - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        torch.testing.assert_close(features, reference.forward_head(reference.forward_features(x), pre_logits=True))
    assert net.fingerprint()["model"] == MODEL and len(net.fingerprint()["weights_sha256"]) == 64


def test_missing_or_foreign_weights_are_one_line(tmp_path, monkeypatch):
    from ganzoo_plugins.dinov2 import DINOv2Features

    monkeypatch.setenv("GANZOO_DINOV2_WEIGHTS", str(tmp_path / "none.safetensors"))
    with pytest.raises(GanzooError, match="none.safetensors not found .*huggingface.co/timm"):
        DINOv2Features(torch.device("cpu"))
    torch.save({"w": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(GanzooError, match=f"other.pth: not weights of timm's {MODEL}") as error:
        DINOv2Features(torch.device("cpu"), path=tmp_path / "other.pth", model=MODEL)
    assert "\n" not in str(error.value)
