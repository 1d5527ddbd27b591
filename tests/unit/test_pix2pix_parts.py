"""pix2pix without data files: the U-Net, the loss by hand, the checks, the paired readers."""
import math
from types import SimpleNamespace

import pytest
import torch
from PIL import Image
from torch import nn

from ganzoo import GanzooError, StepContext
from ganzoo_plugins.cyclegan import PatchGAN, PatchGANOptions
from ganzoo_plugins.image_to_image import PairedDeviceDataset, PairedFolderDataset, edge_map, mask_square
from ganzoo_plugins.pix2pix import Pix2PixObjective, Pix2PixOptions, UnetGenerator, default_depth

# --- the U-Net ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("side, depth", [(28, 5), (32, 5), (64, 6), (256, 8)])
@pytest.mark.parametrize("channels", [1, 3])
def test_unet_keeps_the_shape_at_every_size(side, depth, channels):
    assert default_depth(side, side) == depth  # down to 1x1, the sides padded up to 2^depth
    G = UnetGenerator(channels, 4, depth, 0.5, "batch", "reflect")
    x = torch.rand(2, channels, side, side) * 2 - 1
    y = G(x)
    assert y.shape == x.shape and y.abs().max() <= 1


@pytest.mark.parametrize("pad", ["reflect", "zero"])
def test_unet_pads_sides_that_are_no_multiple_and_crops_back(pad):
    G = UnetGenerator(3, 4, 4, 0.0, "instance", pad).eval()
    x = torch.rand(1, 3, 30, 19) * 2 - 1
    assert G(x).shape == x.shape
    # a pad as large as the side cannot reflect; the edge pixels are repeated instead
    assert UnetGenerator(1, 4, 5, 0.0, "batch", pad).eval()(torch.zeros(1, 1, 3, 3)).shape == (1, 1, 3, 3)


def test_unet_is_the_papers_at_256_px():
    G = UnetGenerator(3, 64, 8, 0.5, "batch", "reflect")
    # the authors' unet_256 has 54.414 M parameters
    assert sum(p.numel() for p in G.parameters()) == 54_414_019
    encoder = [[type(m) for m in layer] for layer in G.down]
    assert encoder[0] == [nn.Conv2d]                                   # C64: no norm on the first layer
    assert encoder[1] == [nn.LeakyReLU, nn.Conv2d, nn.BatchNorm2d]
    assert encoder[-1] == [nn.LeakyReLU, nn.Conv2d]                    # no norm at the 1x1 innermost
    assert [layer[0].negative_slope for layer in G.down[1:]] == [0.2] * 7
    assert [layer[1].out_channels for layer in G.up] == [512, 512, 512, 512, 256, 128, 64, 3]
    assert [layer[1].in_channels for layer in G.up] == [512, 1024, 1024, 1024, 1024, 512, 256, 128]  # skips
    dropped = [any(isinstance(m, nn.Dropout) for m in layer) for layer in G.up]
    assert dropped == [True] * 3 + [False] * 5                         # CD512-CD512-CD512, then C
    assert isinstance(G.up[-1][-1], nn.Tanh)
    assert all(isinstance(m, nn.ReLU) for m in (layer[0] for layer in G.up))
    weights = torch.cat([m.weight.flatten() for m in G.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))])
    assert weights.std().item() == pytest.approx(0.02, rel=0.05)        # N(0, 0.02)


def test_unet_skip_connections_carry_the_input():
    # With every decoder weight but the output layer's zeroed, only the outermost skip reaches the
    # output: the output still depends on the input, which no encoder-decoder without skips does.
    G = UnetGenerator(1, 4, 3, 0.0, "instance", "reflect").eval()
    with torch.no_grad():
        for layer in G.up[:-1]:
            layer[1].weight.zero_()
            layer[1].bias.zero_()
        x1, x2 = torch.zeros(1, 1, 8, 8), torch.ones(1, 1, 8, 8)
        assert not torch.allclose(G(x1), G(x2))


# --- the objective by hand -------------------------------------------------------------------------

def _objective(**kw):
    return Pix2PixObjective(Pix2PixOptions(**kw), SimpleNamespace(world=None))


def _run_step(objective, G, D, a, b):
    step = StepContext(step=0, epoch=0.0, batch={"A": a, "B": b})
    d_phase, g_phase = objective.phases
    assert (d_phase.name, g_phase.name) == ("D", "G")  # D first, then G on the same G(a), as the paper's code
    return objective.loss(d_phase, {"G": G, "D": D}, step), objective.loss(g_phase, {"G": G, "D": D}, step), step


def test_pix2pix_loss_by_hand():
    a, b = torch.zeros(1, 1, 2, 2), torch.ones(1, 1, 2, 2)
    G = lambda x: x + 0.2            # noqa: E731 - a "generator" adding 0.2: G(a) = 0.2 everywhere
    D = lambda pairs: pairs[:, 1:]   # noqa: E731 - logits = the output half of the pair
    (d_loss, d_terms), (g_loss, g_terms), step = _run_step(_objective(), G, D, a, b)
    softplus = lambda v: math.log1p(math.exp(v))  # noqa: E731 - BCE of logit v against 0 is softplus(v)
    # D: 0.5·(BCE(D(a, b) = 1, real) + BCE(D(a, G(a)) = 0.2, fake))
    assert d_loss.item() == pytest.approx(0.5 * (softplus(-1.0) + softplus(0.2)))
    # G: BCE(D(a, G(a)) = 0.2, real) + 100·mean|G(a) - b| = softplus(-0.2) + 100·0.8
    assert g_terms["G/adversarial"].item() == pytest.approx(softplus(-0.2))
    assert g_terms["G/l1"].item() == pytest.approx(80.0)
    assert g_loss.item() == pytest.approx(softplus(-0.2) + 80.0)
    assert set(d_terms) == {"D"} and set(g_terms) == {"G", "G/adversarial", "G/l1"}
    assert torch.equal(step.real, torch.cat([a, b], 1)) and torch.allclose(step.fake, torch.cat([a, a + 0.2], 1))

    (d_loss, _), (g_loss, g_terms), _ = _run_step(_objective(gan_mode="lsgan", lambda_l1=10.0), G, D, a, b)
    assert d_loss.item() == pytest.approx(0.5 * (0.0 + 0.2 ** 2))
    assert g_terms["G/adversarial"].item() == pytest.approx((0.2 - 1) ** 2)
    assert g_loss.item() == pytest.approx(0.64 + 8.0)


def test_d_phase_trains_only_d_and_g_phase_reuses_the_d_phase_output():
    torch.manual_seed(0)
    G, D = UnetGenerator(1, 4, 2, 0.5, "batch", "reflect"), PatchGAN(2, 4, 1, "batch")
    objective, nets = _objective(), {"G": G, "D": D}
    step = StepContext(step=0, epoch=0.0, batch={"A": torch.randn(2, 1, 8, 8), "B": torch.randn(2, 1, 8, 8)})
    d_loss, _ = objective.loss(objective.phases[0], nets, step)
    d_loss.backward()
    assert all(p.grad is None for p in G.parameters())  # D sees the fake detached
    calls = []
    G.register_forward_hook(lambda *args: calls.append(1))
    g_loss, _ = objective.loss(objective.phases[1], nets, step)
    assert calls == []  # no second G forward: the D phase's G(a), with its graph
    g_loss.backward()
    assert all(p.grad is not None for p in G.parameters())


def _recipe(d_options):
    return SimpleNamespace(networks={"G": SimpleNamespace(name="unet", options=None),
                                     "D": SimpleNamespace(name="patchgan", options=d_options)})


def test_check_names_what_to_set():
    info = SimpleNamespace(image_shape=(3, 16, 16))
    G = UnetGenerator(3, 4, 4, 0.5, "batch", "reflect")
    objective = _objective()
    objective.check({"G": G, "D": PatchGAN(6, 4, 2, "batch")}, info, _recipe(PatchGANOptions(pairs=True)))
    with pytest.raises(GanzooError) as error:
        objective.check({"G": G, "D": PatchGAN(3, 4, 2, "batch")}, info, _recipe(PatchGANOptions()))
    message = str(error.value)
    assert "6 channels" in message and "networks.D.pairs: true" in message and "\n" not in message
    shrink = nn.Conv2d(3, 3, 2, 2)
    with pytest.raises(GanzooError, match=r"maps images of shape \(3, 16, 16\) to \(3, 8, 8\)"):
        objective.check({"G": shrink, "D": PatchGAN(6, 4, 2, "batch")}, info, _recipe(PatchGANOptions(pairs=True)))


def test_patchgan_norm_option_keeps_cyclegans_default():
    assert PatchGANOptions().norm == "instance" and PatchGANOptions().pairs is False
    instance, batch = PatchGAN(3, 8, 3), PatchGAN(6, 8, 3, "batch")
    assert not any(isinstance(m, nn.BatchNorm2d) for m in instance.modules())
    assert sum(isinstance(m, nn.BatchNorm2d) for m in batch.modules()) == 3
    assert batch.net[0].in_channels == 6
    assert [k for k, _ in instance.state_dict().items()][:4] == ["net.0.weight", "net.0.bias", "net.2.weight",
                                                                  "net.2.bias"]  # CycleGAN checkpoints still load


# --- the digit tasks' transforms -----------------------------------------------------------------------

def test_edge_map_is_dilation_minus_erosion():
    image = torch.zeros(1, 1, 9, 9, dtype=torch.uint8)
    image[0, 0, 2:7, 2:7] = 200                       # a 5x5 square
    edges = edge_map(image)[0, 0]
    expected = torch.zeros(9, 9, dtype=torch.uint8)
    expected[1:8, 1:8] = 200                          # dilated to 7x7 ...
    expected[3:6, 3:6] = 0                            # ... minus the 3x3 eroded core
    assert torch.equal(edges, expected)


def test_mask_square_hides_one_square_inside_the_digit_box():
    images = torch.full((50, 1, 28, 28), 7, dtype=torch.uint8)
    masked = mask_square(images, 10, torch.Generator().manual_seed(0))
    hole = masked == 128
    assert (hole.flatten(1).sum(1) == 100).all()
    rows, cols = hole.any(3)[:, 0], hole.any(2)[:, 0]
    assert rows[:, :4].sum() == 0 and rows[:, 24:].sum() == 0 and cols[:, :4].sum() == 0 and cols[:, 24:].sum() == 0
    assert len({tuple(r.nonzero()[0].tolist() + c.nonzero()[0].tolist()) for r, c in zip(rows, cols)}) > 10
    assert torch.equal(masked, mask_square(images, 10, torch.Generator().manual_seed(0)))  # fixed by the seed


def test_paired_device_dataset_keeps_pairs_aligned():
    a = torch.randint(0, 256, (10, 1, 4, 4), dtype=torch.uint8)
    labels = torch.arange(10)
    data = PairedDeviceDataset(a, 255 - a, labels, batch_size=4, device=torch.device("cpu"), seed=0,
                               num_classes=10)
    assert data.info.image_shape == (1, 4, 4) and data.info.num_classes is None
    for _ in range(4):  # across epochs
        batch = data.next_batch()
        assert torch.allclose(batch["A"], -batch["B"], atol=1e-6) and batch["A"].shape == (4, 1, 4, 4)
        assert torch.equal(batch["A_label"], batch["B_label"])
    examples = data.examples(5, torch.Generator().manual_seed(0))
    assert torch.equal(examples["A_transformed"], examples["B"])
    assert torch.allclose(examples["A"], -examples["B"], atol=1e-6)
    data.subset(6, torch.Generator().manual_seed(1))
    batch = data.next_batch()
    assert data.info.size == 6 and torch.allclose(batch["A"], -batch["B"], atol=1e-6)


# --- paired folders ------------------------------------------------------------------------------------

def _side_by_side(root, sizes, modes, pattern="inverted"):
    """root/train/ of A | B files. inverted: B is 255 - A (same size, even widths); split: A
    black and B white, split at w // 2 (any width)."""
    g = torch.Generator().manual_seed(0)
    (root / "train").mkdir(parents=True)
    for i, ((w, h), mode) in enumerate(zip(sizes, modes)):
        c = 3 if mode == "RGB" else 1
        if pattern == "inverted":
            half = torch.randint(0, 256, (h, w // 2, c), generator=g, dtype=torch.uint8)
            pixels = torch.cat([half, 255 - half], 1)
        else:
            pixels = torch.zeros(h, w, c, dtype=torch.uint8)
            pixels[:, w // 2:] = 255
        Image.fromarray(pixels.squeeze(2).numpy() if c == 1 else pixels.numpy(), mode).save(root / "train" / f"{i}.png")
    return root


def paired(root, **kw):
    args = dict(split="train", layout="side_by_side", direction="AtoB", channels=3, load_size=20, crop_size=16,
                flip=True, workers=0, batch_size=2, device=torch.device("cpu"), seed=0)
    args.update(kw)
    return PairedFolderDataset(root, **args)


@pytest.mark.parametrize("channels", [1, 3])
def test_side_by_side_pairs_get_the_same_jitter(tmp_path, channels):
    root = _side_by_side(tmp_path / "d", [(40, 23), (34, 31), (52, 17), (24, 24)], ["L", "RGB", "RGB", "L"])
    data = paired(root, channels=channels)
    assert data.info.image_shape == (channels, 16, 16) and data.batches_per_epoch() == 2
    for _ in range(5):  # crosses epochs; crops and flips are random, and alike for both halves
        batch = data.next_batch()
        assert batch["A"].shape == batch["B"].shape == (2, channels, 16, 16)
        assert (batch["A"] + batch["B"]).abs().max() < 0.02, "A and B were cropped or flipped apart"
    flipped = paired(root, channels=channels, direction="BtoA").next_batch()
    assert (flipped["A"] + flipped["B"]).abs().max() < 0.02
    # resuming mid-epoch gives the same next batch
    first, second = paired(root), paired(root)
    first.next_batch()
    second.load_state_dict(first.state_dict())
    assert torch.equal(first.next_batch()["A"], second.next_batch()["A"])


def test_odd_widths_split_at_half_the_width(tmp_path):
    root = _side_by_side(tmp_path / "d", [(33, 20), (7, 9), (51, 30)], ["L", "RGB", "L"], pattern="split")
    for direction, a_value in (("AtoB", -1.0), ("BtoA", 1.0)):
        data = paired(root, channels=1, direction=direction, batch_size=3)
        batch = data.next_batch()
        assert (batch["A"] == a_value).all() and (batch["B"] == -a_value).all()


def test_val_and_test_are_centre_cropped_and_scored_against_b(tmp_path):
    root = _side_by_side(tmp_path / "d", [(40, 23), (34, 31), (52, 17)], ["L", "RGB", "RGB"])
    (root / "train").rename(root / "val")
    data = paired(root, split="val")
    one, two = (data.examples(3, torch.Generator().manual_seed(s)) for s in (0, 1))
    assert torch.equal(torch.sort(one["A"].flatten(1).sum(1)).values, torch.sort(two["A"].flatten(1).sum(1)).values)
    assert torch.equal(one["A_transformed"], one["B"])


def _two_folders(root, names_a, names_b):
    g = torch.Generator().manual_seed(1)
    for domain, names in (("A", names_a), ("B", names_b)):
        (root / domain / "train").mkdir(parents=True)
    for name in sorted(set(names_a) | set(names_b)):
        pixels = torch.randint(0, 256, (21, 27, 3), generator=g, dtype=torch.uint8)
        for domain, names, image in (("A", names_a, pixels), ("B", names_b, 255 - pixels)):
            for file in names:
                if file.split(".")[0] == name.split(".")[0]:
                    Image.fromarray(image.numpy()).save(root / domain / "train" / file)
    return root


def test_two_folders_pair_files_by_name(tmp_path):
    root = _two_folders(tmp_path / "d", ["x.png", "y.png", "z.png"], ["x.bmp", "y.png", "z.png"])
    data = paired(root, layout="two_folders", load_size=27, crop_size=16)
    assert len(data.pairs) == 3
    for _ in range(3):
        batch = data.next_batch()
        assert (batch["A"] + batch["B"]).abs().max() < 0.02


@pytest.mark.parametrize("layout", ["two_folders", "side_by_side"])
def test_a_file_without_its_pair_is_one_line_naming_it(tmp_path, layout):
    if layout == "two_folders":
        root = _two_folders(tmp_path / "d", ["x.png", "y.png", "lonely.png"], ["x.png", "y.png"])
        expected = str(root / "A" / "train" / "lonely.png")
    else:
        root = _side_by_side(tmp_path / "d", [(40, 20)], ["L"])
        Image.new("L", (1, 20)).save(root / "train" / "narrow.png")
        expected = str(root / "train" / "narrow.png")
    with pytest.raises(GanzooError) as error:
        data = paired(root, layout=layout, batch_size=1)
        for _ in range(3):
            data.next_batch()
    assert expected in str(error.value) and "\n" not in str(error.value)


def test_missing_split_folder_says_which_layout(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(GanzooError, match=r"train: folder not found \(expected <split>/ under data.root"):
        paired(tmp_path / "d")
    with pytest.raises(GanzooError, match=r"data.crop_size: 32 is larger than data.load_size 20"):
        paired(tmp_path / "d", crop_size=32)

