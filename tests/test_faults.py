"""Runs survive signals, NaNs, kills during checkpoint writes and plugin faults without losing anything."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch

from conftest import RECIPES, quick, run_subprocess
from ganzoo.testing import make_distribution

VANILLA = RECIPES / "vanilla_mnist.yaml"
SMALL = ["--set", "data.classes=[3]", "--set", "train.batch_size=50"]


def _final_params(run):
    path = sorted((run / "checkpoints").glob("step-*.pt"))[-1]
    return torch.load(path, weights_only=True)


def _wait_for(path, timeout=120):
    start = time.time()
    while time.time() - start < timeout:
        if path.exists() and path.read_text().strip():
            return
        time.sleep(0.2)
    raise AssertionError(f"{path} never appeared")


def test_sigterm_checkpoints_and_resume_matches_an_uninterrupted_run(tmp_path, data_root):
    env = {"GANZOO_DATA": str(data_root)}
    # 500 steps: the signal comes after the first log line (step 50), about 9 s before the end
    args = ["run", VANILLA, *quick(500, **{"train.log_every": 50}), *SMALL,
            "--set", "eval={metrics: [{name: fid, samples: 1000, reference_samples: 1000}]}"]
    straight = tmp_path / "straight"
    assert run_subprocess(*args, "--out", straight, env=env).returncode == 0

    stopped = tmp_path / "stopped"
    process = subprocess.Popen([sys.executable, "-m", "ganzoo", *map(str, args), "--out", str(stopped)],
                               stderr=subprocess.PIPE, text=True, env={**os.environ, **env})
    _wait_for(stopped / "metrics.jsonl")
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143, err
    assert "SIGTERM received" in err and f"continue with: ganzoo resume {stopped}" in err and "Traceback" not in err
    step = _final_params(stopped)["step"]
    assert 0 < step < 500
    # The stop checkpoints at once, without the end-of-run evaluation; the resumed run evaluates.
    assert "eval/fid" not in (stopped / "metrics.jsonl").read_text()

    resumed = run_subprocess("resume", stopped, env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert f"ganzoo: resume {stopped} on " in resumed.stderr and f": step {step} -> 500" in resumed.stderr
    a, b = _final_params(straight), _final_params(stopped)
    assert a["step"] == b["step"] == 500
    last = json.loads((stopped / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["step"] == 500 and "eval/fid" in last
    for role in ("G", "D"):
        for key, tensor in a["networks"][role].items():
            assert torch.equal(tensor, b["networks"][role][key]), (role, key)


KILL_DURING_WRITE = textwrap.dedent("""
    import sys, time, torch
    import ganzoo.checkpoint as ckpt
    from ganzoo.cli import main
    real_save, calls = torch.save, []
    def slow_save(payload, f, *a, **k):
        calls.append(1)
        if len(calls) == 2:            # the second checkpoint: write half of it, then hang
            f.write(b"PK\\x03\\x04 half a checkpoint")
            f.flush()
            print("WRITING", flush=True)
            time.sleep(600)
        return real_save(payload, f, *a, **k)
    ckpt.torch.save = slow_save
    sys.exit(main(sys.argv[1:]))
""")


def test_sigkill_during_a_checkpoint_write_keeps_the_previous_one(tmp_path, data_root):
    run = tmp_path / "run"
    args = ["run", VANILLA, *quick(40, **{"train.checkpoint_every": 20}), *SMALL, "--out", run]
    process = subprocess.Popen([sys.executable, "-c", KILL_DURING_WRITE, *map(str, args)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env={**os.environ, "GANZOO_DATA": str(data_root)})
    assert process.stdout.readline().strip() == "WRITING"
    process.kill()
    process.wait(timeout=30)
    files = sorted(p.name for p in (run / "checkpoints").iterdir() if not p.name.startswith("."))
    assert files == ["step-00000020.pt"]  # the interrupted step-40 file never took a real name
    state = torch.load(run / "checkpoints" / "step-00000020.pt", weights_only=True)
    assert state["step"] == 20


class NaNAt:
    """A test plugin: a regulariser whose penalty turns NaN at a given step."""

    __name__ = "nan_plugin"

    @staticmethod
    def ganzoo_add_components():
        from dataclasses import dataclass

        from ganzoo import Component, Regularizer, option

        @dataclass(frozen=True)
        class Options:
            step: int = option(8, "step whose D loss becomes NaN")

        class Poison(Regularizer):
            def __init__(self, o, ctx):
                self.at, self.calls = o.step, 0

            def penalty(self, objective, nets, scratch):
                self.calls += 1
                value = torch.tensor(float("nan") if self.calls == self.at else 0.0)
                return value, {"D/poison": value}

        return [Component("regularizer", "nan_at", Poison, Options)]


def _nan_run(tmp_path, data_root, *sets):
    from ganzoo import hookimpl
    from ganzoo.loop import train
    from ganzoo.plugins import load_plugins
    from ganzoo.recipe import load_recipe

    plugin = NaNAt()
    plugin.ganzoo_add_components = hookimpl(NaNAt.ganzoo_add_components)
    plugins = load_plugins(extra=(plugin,))
    overrides = [f"{k}={v}" for k, v in {"train.steps": 12, "train.checkpoint_every": 5, "train.log_every": 3,
                                          "train.sample_every": 1000, "data.classes": "[3]",
                                          "regularizers": "[{name: nan_at, step: 8}]"}.items()] + list(sets)
    recipe = load_recipe(VANILLA, overrides, plugins)
    return train(recipe, tmp_path / "run", plugins)


def test_a_nan_stops_the_run_naming_phase_step_and_terms(tmp_path, data_root):
    from ganzoo import GanzooError

    with pytest.raises(GanzooError) as err:
        _nan_run(tmp_path, data_root)
    message = str(err.value)
    assert "non-finite loss at step 8, phase 'D' (terms: D/poison)" in message
    assert f"the last good checkpoint is {tmp_path / 'run' / 'checkpoints' / 'step-00000005.pt'}" in message
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == ["step-00000005.pt"]

    run = _nan_run(tmp_path / "skip", data_root, "train.nonfinite=skip")
    assert run.step == 12
    skipped = [json.loads(line).get("skipped_steps") for line in run.metrics_path.read_text().splitlines()]
    assert sum(s or 0 for s in skipped) == 1


def test_a_plugin_failing_inside_a_hook_is_named_and_checkpoints_are_kept(tmp_path, data_root):
    site = tmp_path / "site"
    site.mkdir()
    make_distribution(site, "ganzoo_badlogger", '''
        from ganzoo import hookimpl
        @hookimpl
        def ganzoo_log(run, step, scalars):
            if step >= 20:
                raise ValueError("disk quota for my dashboard")
        ''', version="2.0.1")
    run = tmp_path / "run"
    result = run_subprocess("run", VANILLA, *quick(40, **{"train.checkpoint_every": 10}), *SMALL, "--out", run,
                            env={"PYTHONPATH": str(site), "GANZOO_DATA": str(data_root)})
    assert result.returncode == 2
    assert ("plugin 'ganzoo_badlogger' (ganzoo_badlogger 2.0.1) failed in ganzoo_log: ValueError: disk quota for "
            "my dashboard") in result.stderr
    assert "Traceback" not in result.stderr
    assert (run / "checkpoints" / "step-00000010.pt").is_file()


def test_one_writer_per_run_directory_and_a_stale_lock_is_taken_over(cli, tmp_path):
    from ganzoo.checkpoint import RunLock

    run = tmp_path / "run"
    run.mkdir()
    holder = RunLock(run)
    holder.acquire()  # as a run in progress holds it
    try:
        code, _, err = cli("run", RECIPES / "vanilla_mnist.yaml", "--out", run, *quick(2))
        assert code == 2 and err.count("\n") == 1 and f"{run}: in use by process {os.getpid()}" in err, err
        assert sorted(p.name for p in run.iterdir()) == [".lock"]  # the second writer wrote nothing
    finally:
        holder.release()
    (run / ".lock").write_text("999999999\n")  # left by a process that was killed: no lock held
    code, _, err = cli("run", RECIPES / "vanilla_mnist.yaml", "--out", run, *quick(2))
    assert code == 0, err
    code, _, err = cli("run", RECIPES / "vanilla_mnist.yaml", "--out", "/proc/ganzoo-run", *quick(2))
    assert code == 2 and "/proc/ganzoo-run: cannot create the run directory" in err and err.count("\n") == 1, err


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
def test_a_write_cut_short_is_one_line_and_keeps_what_was_written(tmp_path):
    # A file-size limit stands in for a disk that fills: the MLP's 6 MB checkpoint cannot be
    # written, everything smaller can. Python ignores SIGXFSZ, so the write fails with EFBIG.
    import resource

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (2_000_000, 2_000_000))

    run = tmp_path / "run"
    result = subprocess.run([sys.executable, "-m", "ganzoo", "run", RECIPES / "vanilla_mnist.yaml", "--out", run,
                             *quick(3), "--set", "loggers=[]"], preexec_fn=limit, capture_output=True, text=True,
                            timeout=300)
    last = result.stderr.strip().splitlines()[-1]
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert last.startswith(f"ganzoo: error: {run / 'checkpoints' / 'step-00000003.pt'}: could not write checkpoint")
    assert "the disk is full or a file-size limit was reached" in last
    assert list((run / "checkpoints").iterdir()) == []  # no half-written temporary file left behind
    assert json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])["step"] == 3  # the log is whole


def test_out_of_memory_is_one_line_naming_what_was_allocated(cli, tmp_path, monkeypatch):
    # building: a real allocation far beyond this machine (39 GB of weights)
    code, _, err = cli("run", RECIPES / "dcgan_mnist.yaml", "--out", tmp_path / "big", *quick(1),
                       "--set", "networks.G.width=1000000")
    assert code == 2 and "Traceback" not in err
    assert "networks.G (dcgan: latent_dim 100, width 1000000, kernel 4): out of memory building it on cpu " \
           "(39.2 GB asked for)" in err
    # in a step, after a checkpoint: the allocator's own error, raised at step 4 (a real one would
    # have the kernel kill the process first on an overcommitting Linux)
    import ganzoo.loop

    real = ganzoo.loop._phase_loss

    def failing(run, *args):
        if run.step == 3:
            raise RuntimeError("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate "
                               "memory: you tried to allocate 2147483648 bytes. Error code 12 (Cannot allocate memory)")
        return real(run, *args)

    monkeypatch.setattr(ganzoo.loop, "_phase_loss", failing)
    run = tmp_path / "step"
    code, _, err = cli("run", RECIPES / "dcgan_mnist.yaml", "--out", run, *quick(6), "--set", "train.batch_size=32",
                       "--set", "train.checkpoint_every=2", "--set", "eval={}")
    assert code == 2 and "Traceback" not in err and len([x for x in err.splitlines() if "error" in x]) == 1
    assert ("out of memory in step 4 on cpu (2.1 GB asked for, train.batch_size 32); the last checkpoint, step 2, "
            f"is kept: continue with ganzoo resume {run} --set train.batch_size=16 --allow-changes train.batch_size") \
        in err
    monkeypatch.setattr(ganzoo.loop, "_phase_loss", real)
    code, _, err = cli("resume", run, "--set", "train.batch_size=16", "--allow-changes", "train.batch_size")
    assert code == 0, err
    assert json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])["step"] == 6
