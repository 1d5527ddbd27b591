"""Every recipe in recipes/ trains a few steps on real data (new recipes are covered automatically)."""
import json
import math
import re

import pytest
import yaml

from conftest import (RECIPES, require_fashion, make_celeba, make_cifar_archive, make_lsun, make_class_folders, make_side_by_side,
                      make_tree, quick)

ALL_RECIPES = sorted(RECIPES.glob("*.yaml"))


@pytest.mark.parametrize("recipe", ALL_RECIPES, ids=[p.stem for p in ALL_RECIPES])
def test_recipe_trains_a_few_steps(cli, data_root, tmp_path, recipe):
    run = tmp_path / "run"
    extra = []
    data = yaml.safe_load(recipe.read_text())["data"]
    if data["name"] == "fashion_mnist" or data.get("source") == "fashion_mnist" or "fashion" in recipe.stem:
        require_fashion(data_root)
    if data["name"] == "folder":  # the user's own images: a folder of class subfolders
        images = make_class_folders(tmp_path / "images", side=data["size"], per_class=12)
        extra = ["--set", f"data.root={images}", "--set", "data.test_root=null", "--set", "train.batch_size=16"]
    if data["name"] in ("cifar10", "cifar100"):  # an archive in the official binary layout
        from ganzoo_plugins import cifar
        source = cifar.CIFAR10 if data["name"] == "cifar10" else cifar.CIFAR100
        make_cifar_archive(tmp_path / source.archive, source, per_file=16)
        extra = ["--set", f"data.root={tmp_path}", "--set", "data.verify=false", "--set", "train.batch_size=16"]
    if data["name"] == "celeba":  # the distributed layout, a few random faces
        extra = ["--set", f"data.root={make_celeba(tmp_path, count=40)}", "--set", "train.batch_size=16"]
    if data["name"] == "lsun":  # the distributed LMDB database, a few random WebP scenes
        make_lsun(tmp_path, f"{data['category']}_train_lmdb", count=40)
        extra = ["--set", f"data.root={tmp_path}", "--set", "train.batch_size=16", "--set", "data.workers=0"]
    if data["name"] in ("folder", "cifar10", "cifar100", "celeba", "lsun"):  # paper-width networks, narrowed for a 3-step test
        for role, net in yaml.safe_load(recipe.read_text())["networks"].items():
            if net.get("width", 0) > 64:
                extra += ["--set", f"networks.{role}.width=32"]
    if data["name"] == "image_folder":  # a folder of files to point at
        extra = ["--set", f"data.root={make_tree(tmp_path / 'images')}", "--set", "data.load_size=36",
                 "--set", "data.crop_size=32", "--set", "networks.G_AB.blocks=2", "--set", "networks.G_BA.blocks=2"]
    if data["name"] == "paired_folder":  # A | B files side by side, odd sizes; the paper's 256-px nets narrowed
        extra = ["--set", f"data.root={make_side_by_side(tmp_path / 'pairs')}", "--set", "data.load_size=36",
                 "--set", "data.crop_size=32", "--set", "networks.G.width=16", "--set", "networks.G.depth=5",
                 "--set", "networks.D.width=16"]
    # Evaluation is left to tests/test_eval.py: here, training and the sample grid.
    code, _, err = cli("run", recipe, "--out", run, *quick(3, **{"train.log_every": 1}), "--set", "eval={}", *extra)
    assert code == 0, err
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3]
    losses = {k: v for r in records for k, v in r.items() if k.startswith("loss/")}
    assert losses and all(math.isfinite(v) for v in losses.values()), losses
    assert (run / "samples" / "step-00000003.png").stat().st_size > 0
    assert (run / "checkpoints" / "step-00000003.pt").is_file()
    # a recipe that states its networks' sizes ("# parameters: G 1.78 M, D 0.54 M") states them right
    stated = re.search(r"^#\s*parameters: (.*)$", recipe.read_text(), re.M)
    if stated and not any("width=" in item for item in extra):
        counts = json.loads((run / "summary.json").read_text())["parameters"]
        built = ", ".join(f"{role} {count / 1e6:.2f} M" for role, count in counts.items())
        assert built == stated.group(1).strip(), f"{recipe.name} states {stated.group(1)!r}, builds {built!r}"
