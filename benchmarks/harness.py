"""Shared helpers for the benchmark scripts: alternate two programs on the same machine and
report the ratio of their throughputs as a median over rounds, with the min-max spread."""
from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def data_root() -> Path:
    root = Path(os.environ.get("GANZOO_DATA", ""))
    if not (root / "MNIST" / "raw").is_dir():
        sys.exit("set GANZOO_DATA to a folder holding MNIST/raw/*-ubyte.gz")
    return root


def unpacked_root(root: Path, tmp: Path) -> Path:
    """torchvision's MNIST class reads uncompressed files from a writable root: unpack once."""
    raw = tmp / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        src = root / "MNIST" / "raw" / name
        if src.exists():
            shutil.copy(src, raw / name)
        else:
            with gzip.open(str(src) + ".gz") as f, open(raw / name, "wb") as out:
                shutil.copyfileobj(f, out)
    return tmp


def run_script(script: str, *args: str, env: dict | None = None) -> float:
    """Run a baseline script that prints `images_per_s=N` on its last line."""
    out = subprocess.run([sys.executable, str(HERE / script), *map(str, args)], capture_output=True, text=True,
                         check=True, env={**os.environ, **(env or {})}).stdout
    return float(re.findall(r"images_per_s=([\d.]+)", out)[-1])


def run_ganzoo(recipe: str, steps: int, out: Path, *sets: str, env: dict | None = None,
               steady: bool = False) -> float:
    """Train a recipe in its own process; its training throughput (build and data loading excluded).
    steady: the median of the log windows after the first (so torch.compile's first steps and other
    warm-up are left out) instead of the whole run's figure."""
    args = [sys.executable, "-m", "ganzoo", "run", str(REPO / "recipes" / recipe), "--out", str(out),
            "--no-progress", "--set", f"train.steps={steps}", "--set", "train.checkpoint_every=1000000",
            "--set", "train.sample_every=1000000", "--set", "eval={}"]
    for s in sets:
        args += ["--set", s]
    done = subprocess.run(args, capture_output=True, text=True, env={**os.environ, **(env or {})})
    if done.returncode:  # keep the reason: the last lines of the run's own error output
        sys.exit(f"{recipe} failed (exit {done.returncode}):\n" + "\n".join(done.stderr.splitlines()[-15:]))
    if not steady:
        shutil.rmtree(out, ignore_errors=True)
        return float(re.search(r"\(([\d,]+) images/s\)", done.stderr).group(1).replace(",", ""))
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    shutil.rmtree(out, ignore_errors=True)
    windows = [r["images_per_s"] for r in records[1:] if r.get("images_per_s") is not None]
    if not windows:
        sys.exit(f"{recipe}: steady throughput needs more than one log window; train more steps")
    return statistics.median(windows)


class Pair:
    """One comparison: `ours()` against `baseline()`, each a throughput from its own process."""

    def __init__(self, name: str, ours, baseline):
        self.name, self.ours, self.baseline, self.rows = name, ours, baseline, []

    def round(self) -> None:
        """Run the baseline, then ours; print the round."""
        b = self.baseline()
        o = self.ours()
        self.rows.append((o, b))
        print(f"  {self.name} round {len(self.rows)}: ganzoo {o:,.0f} img/s, baseline {b:,.0f} img/s, "
              f"ratio {o / b:.2f}x", flush=True)

    def result(self) -> dict:
        ratios = [o / b for o, b in self.rows]
        return {"name": self.name, "median": statistics.median(ratios), "min": min(ratios), "max": max(ratios),
                "ours": statistics.median(o for o, _ in self.rows),
                "baseline": statistics.median(b for _, b in self.rows), "rounds": len(self.rows)}


def print_table(pairs: list[Pair]) -> None:
    print("\n| benchmark | ganzoo img/s | baseline img/s | ratio (median) | min-max | rounds |")
    print("|---|---|---|---|---|---|")
    for r in (p.result() for p in pairs if p.rows):
        print(f"| {r['name']} | {r['ours']:,.0f} | {r['baseline']:,.0f} | {r['median']:.2f}x | "
              f"{r['min']:.2f}-{r['max']:.2f}x | {r['rounds']} |", flush=True)
