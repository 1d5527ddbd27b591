"""report.html: one self-contained page per run, viewable offline.

Loss curves per phase, metric curves with the best step marked, the latest and the best
sample grids, the resolved recipe, the environment and the throughput. Images are embedded
as data URIs; the page loads nothing from anywhere and runs no script. It is rebuilt from the
run directory's files, so `ganzoo report RUN_DIR` can redo it at any time.
"""
from __future__ import annotations

import base64
import html
import io
import json
import platform
from pathlib import Path


def _png_data_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _records(run_dir: Path) -> list[dict]:
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _plot(series: dict[str, list[tuple[float, float]]], title: str, ylabel: str,
          marks: dict[str, tuple[float, float]] | None = None) -> str:
    """A line chart as a PNG data URI (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.4), dpi=100)
    for name, points in series.items():
        if points:
            xs, ys = zip(*points)
            ax.plot(xs, ys, label=name, linewidth=1.2)
    for name, (x, y) in (marks or {}).items():
        ax.plot([x], [y], marker="*", markersize=14, color="crimson", linestyle="none", label=name)
    ax.set_title(title)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return _png_data_uri(buffer.getvalue())


def _grid_for(run_dir: Path, step: int | None) -> Path | None:
    grids = sorted((run_dir / "samples").glob("step-*.png"))
    if not grids:
        return None
    if step is None:
        return grids[-1]
    before = [g for g in grids if int(g.stem.split("-")[1]) <= step]
    return before[-1] if before else grids[0]


def build_report(run_dir: Path, environment: dict | None = None) -> str:
    run_dir = Path(run_dir)
    records = _records(run_dir)
    scores = json.loads((run_dir / "scores.json").read_text()) if (run_dir / "scores.json").exists() else {}
    summary = json.loads((run_dir / "summary.json").read_text()) if (run_dir / "summary.json").exists() else {}
    recipe = (run_dir / "recipe.yaml").read_text() if (run_dir / "recipe.yaml").exists() else ""

    losses: dict[str, list] = {}
    metrics: dict[str, list] = {}
    throughput = []
    for r in records:
        for key, value in r.items():
            if value is None or not isinstance(value, (int, float)):
                continue
            if key.startswith("loss/"):
                losses.setdefault(key[5:], []).append((r["step"], value))
            elif key.startswith("eval/") and not key.endswith("_floor"):
                metrics.setdefault(key[5:], []).append((r["step"], value))
            elif key == "images_per_s":
                throughput.append(value)

    sections = []
    # loss curves, one chart per phase (terms grouped by the name before the first "/")
    phases: dict[str, dict] = {}
    for name, points in losses.items():
        phases.setdefault(name.split("/")[0].split("_")[0], {})[name] = points
    for phase, series in phases.items():
        sections.append(f'<figure><img alt="losses of phase {html.escape(phase)}" '
                        f'src="{_plot(series, f"losses: {phase}", "loss")}"></figure>')
    best = scores.get("best") or {}
    for name, points in metrics.items():
        marks = {}
        if best.get("key") == name and best.get("step") is not None:
            marks[f"best: {best['value']:.4g} at step {best['step']}"] = (best["step"], best["value"])
        sections.append(f'<figure><img alt="{html.escape(name)} over training" '
                        f'src="{_plot({name: points}, name, name, marks)}"></figure>')

    grids = []
    latest = _grid_for(run_dir, None)
    if latest:
        grids.append(("latest", latest))
    best_grid = _grid_for(run_dir, best.get("step")) if best else None
    if best_grid and best_grid != latest:
        grids.append((f"best ({best.get('key')} at step {best.get('step')})", best_grid))
    grid_html = "".join(
        f'<figure><img class="grid" alt="{html.escape(label)} samples" src="{_png_data_uri(path.read_bytes())}">'
        f"<figcaption>{html.escape(label)}: {html.escape(path.name)}</figcaption></figure>" for label, path in grids)

    final = scores.get("final") or {}
    score_rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{v:.6g}</td></tr>" for k, v in final.items()
                         if isinstance(v, (int, float)) and k != "step")
    env = {"python": platform.python_version(), "platform": platform.platform(), **(environment or {})}
    try:
        import torch

        from . import __version__
        env.update({"torch": torch.__version__, "ganzoo": __version__})
    except ImportError:  # pragma: no cover
        pass
    env.update({k: summary[k] for k in ("device", "device_name", "ranks") if k in summary})
    env_rows = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>" for k, v in env.items())
    speed = ""
    if throughput:
        speed = (f"<p>Throughput: {summary.get('images_per_s') or throughput[-1]:,.0f} images/s "
                 f"({len(throughput)} log windows, last {throughput[-1]:,.0f}); "
                 f"training time {summary.get('train_seconds', records[-1].get('time', 0)):.1f} s; "
                 f"peak host memory {summary.get('peak_host_mb', 0):,.0f} MB"
                 + (f", peak device memory {summary['peak_device_mb']:,.0f} MB" if summary.get("peak_device_mb")
                    else "") + ".</p>")
    step = records[-1]["step"] if records else 0
    title = f"ganzoo run {run_dir.name}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }}
figure {{ display: inline-block; margin: 0.5em; vertical-align: top; }}
img.grid {{ image-rendering: pixelated; width: 360px; border: 1px solid #ccc; }}
table {{ border-collapse: collapse; }} td {{ border: 1px solid #ddd; padding: 2px 8px; }}
pre {{ background: #f6f6f6; padding: 1em; overflow-x: auto; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p>Step {step} of {summary.get('total_steps', '?')}. Files: metrics.jsonl, scores.json, samples/, checkpoints/.</p>
{speed}
<h2>Losses and scores</h2>
{''.join(sections) or '<p>Nothing logged yet.</p>'}
{f'<h2>Scores at step {final.get("step")}</h2><table>{score_rows}</table>' if score_rows else ''}
<h2>Samples</h2>
{grid_html or '<p>No sample grid yet.</p>'}
<h2>Recipe</h2>
<pre>{html.escape(recipe)}</pre>
<h2>Environment</h2>
<table>{env_rows}</table>
</body></html>
"""


def write_report(run_dir: Path, environment: dict | None = None) -> Path:
    run_dir = Path(run_dir)
    path = run_dir / "report.html"
    tmp = run_dir / ".report.html.tmp"
    tmp.write_text(build_report(run_dir, environment), encoding="utf-8")
    tmp.replace(path)
    return path
