"""report.html: one self-contained page per run, viewable offline.

Loss curves per phase and metric curves with the best step marked (SVG, drawn here), the
latest and the best sample grids, the resolved recipe, the environment and the throughput. Images are embedded
as data URIs; the page loads nothing from anywhere and runs no script. It is rebuilt from the
run directory's files, so `ganzoo report RUN_DIR` can redo it at any time.
"""
from __future__ import annotations

import base64
import html
import json
import math
import platform
from pathlib import Path


def _png_data_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _records(run_dir: Path) -> list[dict]:
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About `count` round values covering [low, high] (steps of 1, 2 or 5 x 10^k)."""
    if high <= low:
        return [low]
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step + 1e-9) + 1)]


def _plot(series: dict[str, list[tuple[float, float]]], title: str, ylabel: str,
          marks: dict[str, tuple[float, float]] | None = None) -> str:
    """A line chart as an SVG data URI: drawn here, in a few milliseconds, with no plotting
    library to import on the training path."""
    width, height, left, right, top, bottom = 640, 340, 64, 16, 30, 44
    points = [p for pts in series.values() for p in pts] + list((marks or {}).values())
    points = [(x, y) for x, y in points if math.isfinite(x) and math.isfinite(y)]
    xs, ys = [x for x, _ in points] or [0.0, 1.0], [y for _, y in points] or [0.0, 1.0]
    x0, x1 = (min(xs), max(xs)) if max(xs) > min(xs) else (min(xs) - 0.5, min(xs) + 0.5)
    pad = (max(ys) - min(ys)) * 0.05 or abs(max(ys)) * 0.05 or 1.0
    y0, y1 = min(ys) - pad, max(ys) + pad

    def sx(x):
        return left + (x - x0) / (x1 - x0) * (width - left - right)

    def sy(y):
        return height - bottom - (y - y0) / (y1 - y0) * (height - top - bottom)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
           f'font-size="11"><rect width="100%" height="100%" fill="white"/>',
           f'<text x="{width / 2}" y="18" text-anchor="middle" font-size="13">{html.escape(title)}</text>',
           f'<text x="{width / 2}" y="{height - 8}" text-anchor="middle">step</text>',
           f'<text x="14" y="{height / 2}" text-anchor="middle" transform="rotate(-90 14 {height / 2})">'
           f'{html.escape(ylabel)}</text>']
    for t in _ticks(x0, x1):
        out.append(f'<line x1="{sx(t):.1f}" x2="{sx(t):.1f}" y1="{top}" y2="{height - bottom}" stroke="#ddd"/>'
                   f'<text x="{sx(t):.1f}" y="{height - bottom + 14}" text-anchor="middle">{t:g}</text>')
    for t in _ticks(y0, y1):
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{sy(t):.1f}" y2="{sy(t):.1f}" stroke="#ddd"/>'
                   f'<text x="{left - 4}" y="{sy(t) + 4:.1f}" text-anchor="end">{t:.4g}</text>')
    out.append(f'<rect x="{left}" y="{top}" width="{width - left - right}" height="{height - top - bottom}" '
               'fill="none" stroke="#444"/>')
    legend = []
    for i, (name, pts) in enumerate(series.items()):
        colour = _COLOURS[i % len(_COLOURS)]
        line = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts if math.isfinite(x) and math.isfinite(y))
        if line:
            out.append(f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="1.4"/>')
        legend.append((name, colour, "line"))
    for name, (x, y) in (marks or {}).items():
        out.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="6" fill="crimson"/>')
        legend.append((name, "crimson", "dot"))
    for i, (name, colour, kind) in enumerate(legend):
        y = top + 14 + 14 * i
        symbol = (f'<circle cx="{width - right - 150}" cy="{y - 4}" r="4" fill="{colour}"/>' if kind == "dot" else
                  f'<line x1="{width - right - 158}" x2="{width - right - 142}" y1="{y - 4}" y2="{y - 4}" '
                  f'stroke="{colour}" stroke-width="2"/>')
        out.append(f'{symbol}<text x="{width - right - 136}" y="{y}">{html.escape(name)}</text>')
    out.append("</svg>")
    return "data:image/svg+xml;base64," + base64.b64encode("".join(out).encode()).decode("ascii")


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
    from .files import write_text

    path = run_dir / "report.html"
    write_text(path, build_report(run_dir, environment), "the report")
    return path
