"""The image networks build at 28 and 32 px, 1 and 3 channels, with the parameter counts the docs
state (docs/results.md, "Network sizes"): their widths reach the papers' sizes."""
import pytest
import torch

from ganzoo_plugins import dcgan, r3gan, resnet


def _millions(net) -> float:
    return round(sum(p.numel() for p in net.parameters()) / 1e6, 2)


def _dcgan(width):
    return lambda shape: (dcgan.DCGANGenerator(100, width, shape, None),
                          dcgan.DCGANDiscriminator(width, "batch", shape, None))


def _sngan_resnet(shape):  # the paper's CIFAR-10 widths, the component's defaults
    return resnet.ResNetGenerator(resnet.GeneratorOptions(), shape), \
        resnet.ResNetDiscriminator(resnet.DiscriminatorOptions(), shape, None)


def _r3gan(shape):  # 768 channels per stage, 2 blocks, 32 channels per group
    options = dict(width=768, max_width=768, blocks=2, group_channels=32)
    return r3gan.R3GANGenerator(r3gan.R3GANGeneratorOptions(**options), shape), \
        r3gan.R3GANDiscriminator(r3gan.R3GANOptions(**options), shape)


# network -> {(channels, side): (G, D) in millions}
SIZES = {
    "dcgan width 64": (_dcgan(64), {(1, 28): (0.76, 0.14), (3, 28): (0.76, 0.14), (1, 32): (1.07, 0.66),
                                    (3, 32): (1.07, 0.66)}),
    "dcgan width 128": (_dcgan(128), {(1, 28): (1.78, 0.54), (3, 28): (1.79, 0.54), (1, 32): (3.44, 2.63),
                                      (3, 32): (3.45, 2.64)}),
    "sngan_resnet": (_sngan_resnet, {(1, 28): (4.11, 1.05), (3, 28): (4.12, 1.05), (1, 32): (4.27, 1.07),
                                     (3, 32): (4.28, 1.07)}),
    "r3gan width 768": (_r3gan, {(1, 28): (16.92, 16.87), (3, 28): (16.92, 16.87), (1, 32): (22.50, 22.45),
                                 (3, 32): (22.50, 22.45)}),
}


@pytest.mark.parametrize("name", SIZES)
def test_networks_build_with_the_stated_sizes(name):
    build, sizes = SIZES[name]
    for (channels, side), expected in sizes.items():
        G, D = build((channels, side, side))
        assert (_millions(G), _millions(D)) == expected, (name, channels, side)
        with torch.no_grad():
            images = G(torch.randn(2, G.latent_dim))
            assert images.shape == (2, channels, side, side) and D(images).shape == (2, 1)
