"""`ganzoo bench`: variants side by side under the same budget, evaluated the same way.

Each recipe trains for K seeds, each run in a process of its own (so peak memory is its own;
`--jobs N` runs N of them at once),
for the same number of steps or the same training time, with the same metrics on the same
cadence. The results go to one table (Markdown and CSV) with mean ± std over seeds, and a
chart of the main score against training time, one line per recipe with a band over seeds.
"""
from __future__ import annotations

import csv
import io
import json
import os
import signal
import statistics
import subprocess
import sys
from pathlib import Path

import yaml

from .checkpoint import RunLock
from .files import write_text, writing
from .errors import GanzooError


def _mean_std(values: list[float]) -> tuple[float | None, float | None]:
    values = [v for v in values if v is not None]
    if not values:
        return None, None
    return statistics.fmean(values), (statistics.pstdev(values) if len(values) > 1 else 0.0)


def _fmt(mean: float | None, std: float | None, digits: int = 3) -> str:
    if mean is None:
        return "-"
    text = f"{mean:,.{digits}g}" if abs(mean) < 1000 else f"{mean:,.0f}"
    return text if not std else f"{text} ± {std:.{digits}g}"


def parse_metrics(text: str) -> list:
    """`fid,kid` or a YAML list such as `[{name: fid, samples: 2000}]`."""
    text = text.strip()
    if text.startswith("["):
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            raise GanzooError(f"--metrics {text!r}: not a valid YAML list") from None
        if not isinstance(value, list):
            raise GanzooError(f"--metrics {text!r}: expected a list")
        entries = [{"name": item} if isinstance(item, str) else item for item in value]
        for entry in entries:
            if not (isinstance(entry, dict) and isinstance(entry.get("name"), str)):
                raise GanzooError(f"--metrics: every entry is a metric name or a mapping with a name, got {entry!r}")
        return entries
    return [{"name": name.strip()} for name in text.split(",") if name.strip()]


def _main_score(metrics: list) -> tuple[str, str]:
    """The score the table and chart lead with: the first metric's first score, and its goal."""
    from .plugins import load_plugins

    component = load_plugins().registry.get("metric", metrics[0]["name"], "--metrics")
    goals = getattr(component.build, "goals", {}) or {"score": "min"}
    key = next(iter(goals))
    return key, goals[key]


def start_run(recipe: str, out: Path, seed: int, steps: int | None, seconds: float | None, metrics: list,
              eval_every: int | None, extra: list[str], log: Path, threads: int | None) -> subprocess.Popen:
    """One `ganzoo run` in a process of its own, its messages to `log`."""
    sets = {"seed": seed, "eval.metrics": json.dumps(metrics), "eval.best": "null",
            "train.checkpoint_every": 10**9, "train.sample_every": 10**9}
    if steps is not None:
        sets["train.steps"] = steps
    else:
        sets["train.steps"], sets["train.max_seconds"] = 10**9, seconds
    if eval_every:
        sets["eval.every"] = eval_every
    args = [sys.executable, "-m", "ganzoo", "run", recipe, "--out", str(out)]  # progress lines in its log
    for key, value in sets.items():
        args += ["--set", f"{key}={value}"]
    for item in extra:
        args += ["--set", item]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)} if threads else None
    with open(log, "w") as messages:
        return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=messages, text=True, env=env)


def _raise_on_sigterm():
    """Turn SIGTERM into an error, so the runs in flight are stopped on the way out; the old handler."""
    def handler(signum, frame):
        raise GanzooError("bench: stopped by SIGTERM; the runs in progress were stopped too")
    try:
        return signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: signals are not ours to handle
        return None


def _stop(processes: list[subprocess.Popen]) -> None:
    """SIGTERM the runs still going (each ends after its step), then kill any still there after 30 s."""
    running = [p for p in processes if p.poll() is None]
    for process in running:
        process.terminate()
    for process in running:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _read_run(run: Path) -> dict:
    summary = json.loads((run / "summary.json").read_text())
    scores = json.loads((run / "scores.json").read_text()) if (run / "scores.json").exists() else {}
    evals = []
    for line in (run / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        if any(k.startswith("eval/") for k in record):
            evals.append(record)
    report = run / "report.html"
    return {"summary": summary, "scores": scores, "evals": evals, "dir": run,
            "report": report if report.exists() else None}


def bench(recipes: list[str], out: Path, steps: int | None, seconds: float | None, seeds: int, metrics: list,
          eval_every: int | None, extra: list[str], jobs: int = 1) -> dict:
    """Train and evaluate every recipe for every seed; write bench.md, bench.csv and bench.png."""
    if (steps is None) == (seconds is None):
        raise GanzooError("bench: give exactly one of --steps and --seconds")
    if not metrics:
        raise GanzooError("bench: --metrics is empty; name at least one, e.g. --metrics fid")
    out.mkdir(parents=True, exist_ok=True)
    lock = RunLock(out)  # one bench per folder: a second refuses, naming the first's process
    lock.acquire()
    try:
        return _bench(recipes, out, steps, seconds, seeds, metrics, eval_every, extra, jobs)
    finally:
        lock.release()


def _bench(recipes, out, steps, seconds, seeds, metrics, eval_every, extra, jobs) -> dict:
    if eval_every is None and steps is not None:
        eval_every = max(1, steps // 4)
    # Runs go `jobs` at a time; on a CPU each gets its share of the cores unless OMP_NUM_THREADS says.
    threads = None if jobs == 1 or "OMP_NUM_THREADS" in os.environ else max(1, (os.cpu_count() or 1) // jobs)
    runs = out / "runs"
    todo = []  # (stem, recipe, seed, run_dir, log), made once: checked here, then run
    for recipe in recipes:
        stem = Path(recipe).stem
        todo += [(stem, recipe, seed, runs / f"{stem}-seed{seed}", runs / f"{stem}-seed{seed}.log")
                 for seed in range(seeds)]
    for *_, run_dir, _ in todo:  # refused before any run starts, so none is left running behind the error
        if run_dir.exists():
            raise GanzooError(f"{run_dir}: exists; bench into an empty -o directory")
    runs.mkdir(parents=True, exist_ok=True)
    results: dict[str, list[dict]] = {Path(recipe).stem: [] for recipe in recipes}
    processes: list[subprocess.Popen] = []
    previous = _raise_on_sigterm()
    try:
        for first in range(0, len(todo), jobs):
            batch = todo[first:first + jobs]
            processes = [start_run(recipe, run_dir, seed, steps, seconds, metrics, eval_every, extra, log, threads)
                         for _, recipe, seed, run_dir, log in batch]
            for (stem, recipe, seed, run_dir, log), process in zip(batch, processes):
                if process.wait() != 0:
                    last = (log.read_text().strip().splitlines() or ["(no output)"])[-1]
                    raise GanzooError(f"bench: {recipe} seed {seed} failed: {last}")
                results[stem].append(_read_run(run_dir))
                summary = results[stem][-1]["summary"]
                print(f"ganzoo bench: {stem} seed {seed}: {summary['steps']} steps in "
                      f"{summary['train_seconds']:.1f} s", file=sys.stderr, flush=True)
    finally:  # no run outlives the bench: not after a failed run, Ctrl-C or SIGTERM (e.g. `timeout`)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        _stop(processes)
    table = _table(results, *_main_score(metrics))
    _write_table(table, out)
    _chart(results, table["key"], out / "bench.png")
    write_text(out / "fingerprints.json", json.dumps(table["fingerprints"], indent=2), "the bench fingerprints")
    return table


def _table(results: dict, key: str, goal: str) -> dict:
    pick = min if goal == "min" else max
    rows, fingerprints = [], {}
    for stem, runs in results.items():
        scores = [[e[f"eval/{key}"] for e in r["evals"] if e.get(f"eval/{key}") is not None] for r in runs]
        fp = next((r["evals"][-1].get("fingerprints") for r in runs if r["evals"]), {}) or {}
        fingerprints[stem] = fp
        rows.append({
            "recipe": stem,
            "seeds": len(runs),
            "steps": _mean_std([r["summary"]["steps"] for r in runs]),
            "train_seconds": _mean_std([r["summary"]["train_seconds"] for r in runs]),
            "images_per_s": _mean_std([r["summary"]["images_per_s"] for r in runs]),
            "peak_host_mb": _mean_std([r["summary"]["peak_host_mb"] for r in runs]),
            "peak_device_mb": _mean_std([r["summary"]["peak_device_mb"] for r in runs]),
            "parameters": ", ".join(f"{role} {count / 1e6:.2f} M"
                                    for role, count in runs[0]["summary"].get("parameters", {}).items()) or "-",
            f"final_{key}": _mean_std([s[-1] if s else None for s in scores]),
            f"best_{key}": _mean_std([pick(s) if s else None for s in scores]),
            "floor": next((e.get(f"eval/{key}_floor") for r in runs for e in r["evals"]), None),
            "fingerprint": _short_fingerprint(fp),
            "reports": [str(r["report"]) for r in runs if r["report"]],
        })
    return {"key": key, "goal": goal, "rows": rows, "fingerprints": fingerprints}


def _short_fingerprint(fp: dict) -> str:
    parts = []
    for name, f in fp.items():
        bits = [name]
        if f.get("features"):
            bits.append(f"{f['features']}@{str(f.get('weights_sha256', ''))[:8]}")
        if f.get("samples"):
            bits.append(f"{f['samples']} samples")
        if f.get("reference"):
            bits.append(f"vs {f.get('reference_samples', '')} {f['reference']}".replace("  ", " "))
        parts.append(" ".join(bits))
    return "; ".join(parts)


COLUMNS = [("recipe", "recipe"), ("seeds", "seeds"), ("steps", "steps"), ("train_seconds", "train time (s)"),
           ("images_per_s", "images/s"), ("peak_host_mb", "peak host MB"), ("peak_device_mb", "peak device MB"),
           ("parameters", "parameters")]


def _write_table(table: dict, out: Path) -> None:
    key = table["key"]
    columns = COLUMNS + [(f"final_{key}", f"final {key}"), (f"best_{key}", f"best {key}"), ("floor", f"{key} floor"),
                         ("fingerprint", "fingerprint"), ("reports", "reports")]
    lines = ["| " + " | ".join(title for _, title in columns) + " |", "|" + "---|" * len(columns)]
    csv_text = io.StringIO()
    writer = csv.writer(csv_text)
    header = []
    for name, _ in columns:
        header += [f"{name}_mean", f"{name}_std"] if isinstance(table["rows"][0][name], tuple) else [name]
    writer.writerow(header)
    for row in table["rows"]:
        cells, values = [], []
        for name, _ in columns:
            value = row[name]
            if isinstance(value, tuple):
                cells.append(_fmt(*value))
                values += [value[0], value[1]]
            elif name == "reports":
                links = [f"[{i}]({Path(p).relative_to(out)})" for i, p in enumerate(value)]
                cells.append(" ".join(links) or "-")
                values.append(" ".join(str(Path(p).relative_to(out)) for p in value))
            elif name == "floor":
                cells.append(_fmt(value, None))
                values.append(value)
            else:
                cells.append(str(value))
                values.append(value)
        lines.append("| " + " | ".join(cells) + " |")
        writer.writerow(values)
    write_text(out / "bench.csv", csv_text.getvalue(), "the bench table")
    write_text(out / "bench.md", "\n".join(lines) + "\n", "the bench table")


def _chart(results: dict, key: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    for stem, runs in results.items():
        series = [[(e["time"], e[f"eval/{key}"]) for e in r["evals"] if e.get(f"eval/{key}") is not None]
                  for r in runs]
        length = min((len(s) for s in series), default=0)
        if not length:
            continue
        times = [statistics.fmean(s[i][0] for s in series) for i in range(length)]
        values = [[s[i][1] for s in series] for i in range(length)]
        mean = [statistics.fmean(v) for v in values]
        line, = ax.plot(times, mean, marker="o", label=f"{stem} ({len(runs)} seeds)")
        ax.fill_between(times, [min(v) for v in values], [max(v) for v in values], color=line.get_color(), alpha=0.2)
    ax.set_xlabel("training time (s)")
    ax.set_ylabel(key)
    ax.set_title(f"{key} against training time (band: min-max over seeds)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with writing(path, "the bench chart"):
        fig.savefig(path)
    plt.close(fig)
