"""TF-Inception FID features against pytorch-fid's, on the same (test-made, random) weights file."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from ganzoo import GanzooError, frechet_distance, load_statistics, save_statistics

pytorch_fid = pytest.importorskip("pytorch_fid")


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """A weights file of the right names and shapes, random values (the real one is 92 MB, online)."""
    from ganzoo_plugins.inception import tf_inception

    torch.manual_seed(0)
    net = tf_inception()
    state = net.state_dict()
    for name, value in state.items():  # BatchNorm statistics too, so every layer's arithmetic counts
        if name.endswith("running_var"):
            state[name] = torch.rand_like(value) + 0.5
        elif name.endswith("running_mean") or name.endswith(".bias"):
            state[name] = torch.randn_like(value) * 0.1
    path = tmp_path_factory.mktemp("weights") / "pt_inception-2015-12-05-6726825d.pth"
    torch.save(state, path)
    return path


def test_pool3_features_equal_pytorch_fids(weights, tmp_path, monkeypatch):
    from pytorch_fid import inception as reference
    from pytorch_fid.fid_score import ImagePathDataset
    from torchvision import transforms

    from ganzoo_plugins.inception import TFInceptionFeatures

    rng = np.random.default_rng(0)
    files = []
    for i, (w, h) in enumerate([(32, 32), (45, 30), (28, 28)]):
        files.append(tmp_path / f"{i}.png")
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(files[-1])
    # pytorch-fid: its own file reader (PIL RGB, ToTensor in [0, 1]), its own network
    monkeypatch.setattr(reference, "load_state_dict_from_url",
                        lambda *a, **k: torch.load(weights, weights_only=True))
    theirs_net = reference.InceptionV3([reference.InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).eval()
    ours = TFInceptionFeatures(torch.device("cpu"), path=weights, resize="legacy")
    reader = ImagePathDataset(files, transforms.ToTensor())
    for i in range(len(files)):
        image = reader[i].unsqueeze(0)
        with torch.no_grad():
            theirs = theirs_net(image)[0].flatten(1)
        mine = ours.features(image * 2 - 1)  # ganzoo's images are in [-1, 1]
        assert mine.shape == (1, 2048)
        torch.testing.assert_close(mine, theirs, rtol=1e-5, atol=1e-5 * float(theirs.abs().max()))
    probabilities = ours.probabilities(reader[0].unsqueeze(0) * 2 - 1)
    assert probabilities.shape == (1, 1008) and float(probabilities.sum()) == pytest.approx(1.0, abs=1e-5)
    assert ours.fingerprint()["resize"] == "legacy"
    clean = TFInceptionFeatures(torch.device("cpu"), path=weights, resize="clean")
    image = reader[1].unsqueeze(0) * 2 - 1  # 45x30: the two resizes give other 299x299 inputs
    assert (clean._inputs(image) - ours._inputs(image)).abs().mean() > 0.01


def test_statistics_files_are_pytorch_fids_both_ways(tmp_path):
    from pytorch_fid.fid_score import calculate_frechet_distance, compute_statistics_of_path

    g = np.random.default_rng(0)
    a, b = g.normal(size=(500, 16)), g.normal(0.3, 1.2, size=(500, 16))
    mu_a, sigma_a = a.mean(0), np.cov(a, rowvar=False)
    save_statistics(tmp_path / "a.npz", mu_a, sigma_a)  # written by ganzoo, read by pytorch-fid
    mu, sigma = compute_statistics_of_path(str(tmp_path / "a.npz"), None, 1, 16, "cpu")
    assert np.array_equal(mu, mu_a) and np.array_equal(sigma, sigma_a)
    np.savez(tmp_path / "b.npz", mu=b.mean(0), sigma=np.cov(b, rowvar=False))  # the reverse
    mu_b, sigma_b = load_statistics(tmp_path / "b.npz")
    ours = frechet_distance(mu_a, sigma_a, mu_b, sigma_b)
    assert ours == pytest.approx(calculate_frechet_distance(mu_a, sigma_a, mu_b, sigma_b), rel=1e-4)
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(GanzooError, match="bad.npz: not a statistics file"):
        load_statistics(tmp_path / "bad.npz")


def test_missing_or_foreign_weights_are_one_line(tmp_path, monkeypatch):
    from ganzoo_plugins.inception import WEIGHTS_URL, TFInceptionFeatures

    monkeypatch.setenv("GANZOO_INCEPTION_WEIGHTS", str(tmp_path / "none.pth"))
    with pytest.raises(GanzooError) as error:
        TFInceptionFeatures(torch.device("cpu"))
    assert "none.pth not found" in str(error.value) and WEIGHTS_URL in str(error.value)
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(GanzooError, match="other.pth: not the TF-Inception FID weights"):
        TFInceptionFeatures(torch.device("cpu"), path=tmp_path / "other.pth")
    monkeypatch.setenv("GANZOO_INCEPTION_RESIZE", "nearest")
    with pytest.raises(GanzooError, match="GANZOO_INCEPTION_RESIZE: 'nearest' is not a resize mode"):
        TFInceptionFeatures(torch.device("cpu"), path=tmp_path / "other.pth")
