"""Rows of the model-zoo table (docs/results.md) from `ganzoo bench` folders.

    ganzoo bench recipes/dcgan_mnist.yaml --seconds 1800 --seeds 2 --jobs 2 \
        --metrics '[{name: fid}, {name: inception_score}, {name: precision_recall}]' -o zoo/dcgan_mnist
    python benchmarks/model_zoo.py zoo/dcgan_mnist [zoo/... ...] [--images docs/images/zoo]

For each bench folder and each recipe in it, one markdown row: seeds, steps, training time per
run, the parameters of G and D, and the final FID (mean ± std over seeds) with its real-data
floor, IS, precision and recall, read from each run's scores.json and summary.json; the
fingerprint of the FID (feature network and its hash) follows the table. With --images, seed 0's
last sample grid is copied there as <recipe>.png and linked from the row.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
from pathlib import Path

HEADER = ("| recipe | seeds | steps | train time / run | G, D parameters | FID-LeNet | floor | IS | precision | "
          "recall | samples |\n|---|---|---|---|---|---|---|---|---|---|---|")


def _mean_std(values: list[float], digits: int) -> str:
    if not values:
        return "-"
    mean = statistics.fmean(values)
    spread = statistics.pstdev(values) if len(values) > 1 else None
    return f"{mean:.{digits}f}" + (f" ± {spread:.{digits}f}" if spread is not None else "")


def rows(bench: Path, images: Path | None) -> tuple[list[str], set[str]]:
    runs: dict[str, list[Path]] = {}
    for run in sorted(p for p in (bench / "runs").iterdir() if p.is_dir()):
        runs.setdefault(run.name.rsplit("-seed", 1)[0], []).append(run)
    lines, fingerprints = [], set()
    for recipe, dirs in runs.items():
        scores = [json.loads((d / "scores.json").read_text()) for d in dirs]
        summaries = [json.loads((d / "summary.json").read_text()) for d in dirs]
        final = [s["final"] for s in scores]
        pick = lambda key: [f[key] for f in final if f.get(key) is not None]  # noqa: E731
        params = ", ".join(f"{v / 1e6:.2f} M" for v in summaries[0].get("parameters", {}).values()) or "-"
        minutes = statistics.fmean(s["train_seconds"] for s in summaries) / 60
        grid = "-"
        if images is not None:
            last = sorted((dirs[0] / "samples").glob("step-*.png"))
            if last:
                images.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(last[-1], images / f"{recipe}.png")
                grid = f"![{recipe}](images/{images.name}/{recipe}.png)"
        fid = scores[0].get("fingerprints", {}).get("fid", {})
        fingerprints.add(f"{fid.get('features')}@{str(fid.get('weights_sha256', ''))[:8]}, {fid.get('samples')} "
                         f"samples vs {fid.get('reference_samples')} {fid.get('reference')}")
        lines.append(f"| `{recipe}` | {len(dirs)} | {_mean_std([s['steps'] for s in summaries], 0)} | "
                     f"{minutes:.1f} min | {params} | **{_mean_std(pick('fid'), 1)}** | "
                     f"{_mean_std(pick('fid_floor'), 2)} | {_mean_std(pick('is'), 2)} | "
                     f"{_mean_std(pick('precision'), 3)} | {_mean_std(pick('recall'), 3)} | {grid} |")
    return lines, fingerprints


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("benches", nargs="+", type=Path, help="`ganzoo bench -o` folders")
    parser.add_argument("--images", type=Path, help="copy seed 0's last sample grid here")
    args = parser.parse_args()
    print(HEADER)
    fingerprints = set()
    for bench in args.benches:
        lines, prints = rows(bench, args.images)
        fingerprints |= prints
        print("\n".join(lines))
    print("\nFID fingerprint: " + "; ".join(sorted(fingerprints)))


if __name__ == "__main__":
    main()
