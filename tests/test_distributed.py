"""Data parallelism through torchrun (gloo on CPU): identical replicas, rank-0 files, 2 ranks == 1 rank."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch

from conftest import RECIPES, quick, run_subprocess

# Trains through ganzoo's loop, then every rank saves its own parameters next to the run. (BatchNorm's
# running statistics are per rank, as in any DDP run; checkpoints keep rank 0's.)
DRIVER = textwrap.dedent("""
    import os, sys, torch
    from ganzoo import distributed
    from ganzoo.loop import train
    from ganzoo.plugins import load_plugins
    from ganzoo.recipe import load_recipe
    recipe_path, out, dumps = sys.argv[1], sys.argv[2], sys.argv[3]
    plugins = load_plugins()
    recipe = load_recipe(recipe_path, sys.argv[4:], plugins)
    run = train(recipe, out, plugins)
    rank = int(os.environ.get("RANK", 0))
    params = {k: {n: p.detach() for n, p in v.named_parameters()} for k, v in run.nets.items()}
    torch.save(params, os.path.join(dumps, f"rank{rank}.pt"))
    distributed.teardown()
""")


def torchrun(nproc, *args, env=None, **kw):
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", *args]
    return subprocess.run(command, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=300,
                          **kw)


def sets(steps, **extra):
    return [s for s in quick(steps, **extra) if s != "--set"]


@pytest.mark.parametrize("recipe", ["vanilla_mnist", "wgan_gp_mnist"])
def test_two_ranks_keep_identical_replicas_and_only_rank0_writes(tmp_path, data_root, recipe):
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    overrides = sets(6, **{"train.batch_size": 32, "data.classes": "[3]"})
    result = torchrun(2, str(driver), str(RECIPES / f"{recipe}.yaml"), str(tmp_path / "run"), str(dumps),
                      *overrides, env={"GANZOO_DATA": str(data_root)}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    rank0, rank1 = (torch.load(dumps / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    for role in rank0:
        for key, value in rank0[role].items():
            assert torch.equal(value, rank1[role][key]), (role, key)
    # Only rank 0 wrote the run: one set of files, and the ganzoo lines printed once.
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [
        ".lock", "checkpoints", "metrics.jsonl", "recipe.yaml", "report.html", "samples", "summary.json", "tensorboard"]
    assert result.stderr.count("ganzoo: done:") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["driver.py", "dumps", "run"]


def test_two_ranks_equal_one_rank_with_the_same_global_batch(tmp_path, data_root):
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    overrides = sets(20, **{"train.batch_size": 64, "data.classes": "[3, 5]"})
    env = {"GANZOO_DATA": str(data_root)}
    for nproc in (1, 2):
        dumps = tmp_path / f"dumps{nproc}"
        dumps.mkdir()
        result = torchrun(nproc, str(driver), str(RECIPES / "vanilla_mnist.yaml"), str(tmp_path / f"run{nproc}"),
                          str(dumps), *overrides, env=env)
        assert result.returncode == 0, result.stderr[-2000:]
    one, two = (torch.load(tmp_path / f"dumps{n}" / "rank0.pt", weights_only=True) for n in (1, 2))
    for role in one:
        for key, value in one[role].items():
            assert torch.allclose(value, two[role][key], atol=1e-5, rtol=1e-4), (role, key)


def test_cli_nproc_launches_torchrun(tmp_path, data_root):
    run = tmp_path / "run"
    result = run_subprocess("run", RECIPES / "vanilla_mnist.yaml", "--nproc", "2", *quick(4), "--out", run,
                            env={"GANZOO_DATA": str(data_root)})
    assert result.returncode == 0, result.stderr[-2000:]
    assert "on cpu x 2 ranks" in result.stderr
    assert (run / "checkpoints" / "step-00000004.pt").is_file()
    # ...and resumes on one rank.
    resumed = run_subprocess("resume", run, "--set", "train.steps=6", "--allow-changes", "train.steps",
                             env={"GANZOO_DATA": str(data_root)})
    assert resumed.returncode == 0, resumed.stderr
    assert (run / "checkpoints" / "step-00000006.pt").is_file()


def test_killing_one_rank_ends_the_job_without_hanging(tmp_path, data_root):
    pids = tmp_path / "pids"
    pids.mkdir()
    # Each rank notes its PID from a plugin-free wrapper, then trains for a long time.
    wrapper = tmp_path / "wrapper.py"
    wrapper.write_text(textwrap.dedent(f"""
        import os, sys
        open(os.path.join({str(pids)!r}, os.environ["RANK"]), "w").write(str(os.getpid()))
        from ganzoo.cli import main
        sys.exit(main(sys.argv[1:]))
    """))
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(wrapper),
               "run", str(RECIPES / "vanilla_mnist.yaml"), *quick(1_000_000), "--out", str(tmp_path / "run")]
    job = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                           env={**os.environ, "GANZOO_DATA": str(data_root)})
    deadline = time.time() + 120
    while not (pids / "1").exists() and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(3)  # well into training
    os.kill(int((pids / "1").read_text()), signal.SIGKILL)
    start = time.time()
    job.wait(timeout=90)  # bounded: torchrun notices the dead worker and stops the others
    assert job.returncode != 0
    assert time.time() - start < 90
