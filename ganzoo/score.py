"""Scores for images any program made, and a run's samples as a dataset.

  ganzoo score SAMPLES --reference REF [--metrics fid,kid,...] [--features NET]
           SAMPLES: a folder of images (flat or class subfolders), or an .npz (`arr_0`/`images`,
           uint8 N x H x W x C, as ganzoo export and most evaluation suites write) or a .pt tensor
           REF: a dataset name (mnist, fashion_mnist, ...; --split picks train or test), a folder,
           or an .npz of feature statistics in pytorch-fid's format (FID only);
           --save-stats FILE writes the reference's statistics for the next time.
  ganzoo export RUN_DIR -n N --format png|npz [--per-class] -o OUT
           N samples of the run's checkpoint (EMA weights where kept), made as its evaluation makes
           them (the eval seed by default), with manifest.json naming recipe, checkpoint, seed and count.

Both go through the same metric components and feature networks as training, so a run's
exported samples score what the run logged, up to the rounding to 8-bit pixels.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import torch

from . import __version__
from .api import load_checkpoint
from .contract import BuildContext, DataInfo
from .data import DeviceDataset
from .errors import GanzooError
from .evaluation import EvalContext
from .images import IMAGE_SUFFIXES, DecodedImages, decode_images, scan_image_folder
from .metrics import feature_statistics, frechet_distance, load_statistics, save_statistics


# --- reading images ----------------------------------------------------------------------------------

def read_images(path: Path, size: int | None = None, channels: int | None = None) -> torch.Tensor:
    """uint8 (N, C, H, W) from a folder of images, an .npz or a .pt file."""
    if path.is_dir():
        files, _, _ = scan_image_folder(path)
        if size is None or channels is None:
            from PIL import Image
            with Image.open(files[0]) as first:
                size = size or min(first.size)
                channels = channels or (1 if first.mode in ("L", "1", "I;16", "I") else 3)
        return decode_images(DecodedImages(files, channels, size, "bicubic"), 2, str(path))
    if not path.is_file():
        raise GanzooError(f"{path}: no such folder or file of images")
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as f:
                key = next((k for k in ("arr_0", "images") if k in f.files), None)
                if key is None:
                    raise GanzooError(f"{path}: no image array (expected arr_0 or images; found "
                                      f"{', '.join(f.files) or 'none'})")
                array = f[key]
        except (OSError, ValueError) as exc:
            raise GanzooError(f"{path}: unreadable .npz ({str(exc).splitlines()[0][:100]})") from None
        if array.ndim != 4 or array.dtype != np.uint8 or array.shape[-1] not in (1, 3):
            raise GanzooError(f"{path}: expected uint8 images N x H x W x C (C 1 or 3), got {array.dtype} "
                              f"{array.shape}")
        return torch.from_numpy(array).permute(0, 3, 1, 2).contiguous()
    if path.suffix == ".pt":
        try:
            tensor = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001
            raise GanzooError(f"{path}: unreadable tensor file ({str(exc).splitlines()[0][:100]})") from None
        if not isinstance(tensor, torch.Tensor) or tensor.dim() != 4 or tensor.shape[1] not in (1, 3):
            raise GanzooError(f"{path}: expected one tensor N x C x H x W (C 1 or 3)")
        if tensor.dtype == torch.uint8:
            return tensor
        return tensor.float().clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8)  # [-1, 1] floats
    raise GanzooError(f"{path}: expected a folder of images ({', '.join(sorted(IMAGE_SUFFIXES))}), an .npz "
                      "or a .pt file")


# --- an evaluation context on fixed images -----------------------------------------------------------

class ImagesContext(EvalContext):
    """An EvalContext on fixed images, so the metric components score them unchanged: "fake" is
    the scored set; the splits come from the reference (a dataset's, or the reference folder's)."""

    def __init__(self, samples: torch.Tensor, reference, registry, device, seed: int, features: str | None):
        default = features or (reference.info.features if reference is not None else None) or "inception_fid"
        info = DataInfo(tuple(samples.shape[1:]), None, len(samples), default)
        super().__init__(reference.recipe if reference else None, registry, None, {}, info, device, seed)
        self.samples, self.reference = samples, reference

    def fake(self, n):
        return DeviceDataset.normalise(self.samples[:n]).to(self.device)

    def real(self, split, n):
        key = ("real", split, n)
        if key not in self.cache:
            self.cache[key] = self.reference.split(split).examples(n, torch.Generator().manual_seed(self.seed + 1))
        return self.cache[key]


def check_reference(spec: str, plugins) -> None:
    datasets = plugins.registry.tables["dataset"]
    if spec.endswith(".npz"):
        if not Path(spec).expanduser().is_file():
            raise GanzooError(f"--reference: {spec}: no such statistics file")
    elif not Path(spec).expanduser().is_dir() and spec not in datasets:
        raise GanzooError(f"--reference: {spec} is not a folder, an .npz of statistics or a dataset "
                          f"({', '.join(sorted(datasets))})")


class Reference:
    """A dataset by name, its splits built as a recipe's would be (its root, its defaults), or a
    folder of images (one split, "reference")."""

    def __init__(self, spec: str, split: str, plugins, size: int, channels: int):
        from .recipe import resolve

        folder = Path(spec).expanduser()
        check_reference(spec, plugins)
        data = ({"name": "folder", "root": str(folder), "size": size, "channels": channels, "features": None}
                if folder.is_dir() else {"name": spec})
        self.recipe = resolve({"data": data, "objective": {"name": "bce"}, "train": {"batch_size": 1, "steps": 1},
                               "networks": {"G": {"name": "dcgan"}, "D": {"name": "dcgan"}},
                               "optimizers": {"G": {"name": "adam"}, "D": {"name": "adam"}}},
                              plugins.registry, "--reference")
        self.split_name = "reference" if folder.is_dir() else split
        self._built = {}
        self.info = self.split(self.split_name).info

    def split(self, split: str):
        if split not in self._built:
            choice = self.recipe.data
            options = choice.options
            if split in ("train", "test") and any(f.name == "split" for f in dataclasses.fields(options)):
                options = dataclasses.replace(options, split=split)
            self._built[split] = choice.component.build(options, BuildContext(device=torch.device("cpu"),
                                                                              recipe=self.recipe))
        return self._built[split]


def _metrics(text: str, registry, n_samples: int, n_reference: int | None, split: str):
    from .bench import parse_metrics
    from .options import validate

    chosen = []
    entries = parse_metrics(text)
    if not entries:
        raise GanzooError("score: --metrics is empty; name at least one, e.g. --metrics fid")
    for raw in entries:
        raw = dict(raw)
        name = raw.pop("name", None)
        component = registry.get("metric", name, "--metrics")
        fields = {f.name for f in dataclasses.fields(component.options)}
        # every sample scored, against as many reference images, unless the entry says otherwise
        for key, value in (("samples", n_samples), ("reference_samples", n_reference), ("reference", split)):
            if key in fields and key not in raw and value is not None:
                raw[key] = value
        chosen.append((name, component.build(validate(component.options, raw, f"--metrics {name}"), None)))
    return chosen


def cmd_score(args) -> int:
    from .bench import parse_metrics
    from .loop import pick_device
    from .plugins import load_plugins

    plugins = load_plugins()
    check_reference(args.reference, plugins)  # before the samples are decoded
    samples = read_images(Path(args.samples).expanduser(), args.size)
    stats_file = Path(args.reference).expanduser() if args.reference.endswith(".npz") else None
    reference = None if stats_file else Reference(args.reference, args.split, plugins, samples.shape[-1],
                                                  samples.shape[1])
    ev = ImagesContext(samples, reference, plugins.registry, pick_device(args.device), args.seed, args.features)
    n_reference = args.reference_samples or len(samples)
    result = {"samples": str(args.samples), "count": len(samples), "reference": args.reference, "scores": {},
              "fingerprints": {}}
    if stats_file:  # published statistics: FID, and nothing that needs the images
        if [m.get("name") for m in parse_metrics(args.metrics)] != ["fid"]:
            raise GanzooError(f"--reference {stats_file} holds statistics: only --metrics fid can use it")
        mu, sigma = load_statistics(stats_file)
        result["scores"]["fid"] = frechet_distance(*feature_statistics(ev.features(args.features, "fake",
                                                                                   len(samples))), mu, sigma)
        result["fingerprints"]["fid"] = {**ev.feature_net(args.features).fingerprint(), "samples": len(samples),
                                         "reference_sha256": hashlib.sha256(stats_file.read_bytes()).hexdigest()}
    else:
        for name, metric in _metrics(args.metrics, plugins.registry, len(samples), n_reference,
                                     reference.split_name):
            result["scores"].update(metric(ev))
            result["fingerprints"][name] = metric.fingerprint(ev)
        if args.save_stats:
            real = ev.features(args.features, reference.split_name, n_reference)
            save_statistics(Path(args.save_stats), *feature_statistics(real))
            print(f"ganzoo: statistics of {len(real):,} reference images written to {args.save_stats}",
                  file=sys.stderr)
    print(json.dumps(result, indent=2))
    return 0


# --- export ------------------------------------------------------------------------------------------

def _to_uint8(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> 0..255, the inverse of the datasets' x / 127.5 - 1, rounded."""
    return images.float().clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8).cpu()


def cmd_export(args) -> int:
    from PIL import Image

    from .files import write_text

    if not 1 <= args.n <= 1_000_000:
        raise GanzooError(f"export -n: expected an integer in [1, 1000000], got {args.n}")
    loaded = load_checkpoint(args.run_dir, args.checkpoint, args.device)
    seed = loaded.recipe.eval.seed if args.seed is None else args.seed
    classes = loaded.info.num_classes
    if args.per_class and not classes:
        raise GanzooError(f"export --per-class: {args.run_dir} is not class-conditional")
    for net in loaded.nets.values():
        net.eval()
    labels = list(range(classes)) if args.per_class else [None]
    batches = []
    with torch.no_grad():
        for label in labels:
            inputs = loaded.objective.fixed_inputs(loaded.nets, args.n, torch.Generator().manual_seed(seed), label=label)
            made = [loaded.objective.sample(loaded.nets, {k: v[i:i + 500] for k, v in inputs.items()})
                    for i in range(0, args.n, 500)]  # the chunks evaluation makes them in
            batches.append(_to_uint8(torch.cat(made)))
    images = torch.cat(batches)
    if images.dim() != 4:
        raise GanzooError(f"export: {args.run_dir} makes samples of shape {tuple(images.shape[1:])}, not images")
    out = Path(args.output).expanduser()
    manifest = {"run": str(Path(args.run_dir).resolve()), "recipe": loaded.state["recipe"],
                "checkpoint": str(loaded.path), "step": loaded.state["step"], "seed": seed, "count": len(images),
                "per_class": args.per_class, "format": args.format, "ganzoo": __version__}
    if args.format == "npz":
        if out.suffix != ".npz":
            raise GanzooError(f"export -o {out}: an .npz file name is expected with --format npz")
        import io

        from .files import write_bytes
        buffer = io.BytesIO()
        extra = {"labels": np.repeat(np.arange(classes), args.n)} if args.per_class else {}
        np.savez(buffer, arr_0=images.permute(0, 2, 3, 1).numpy(), **extra)
        write_bytes(out, buffer.getvalue(), "exported samples")
        write_text(out.with_suffix(".json"), json.dumps(manifest, indent=2), "the export manifest")
    else:
        mode = "L" if images.shape[1] == 1 else "RGB"
        folders = [out / str(c) for c in range(classes)] if args.per_class else [out]
        for folder in folders:
            folder.mkdir(parents=True, exist_ok=True)
        for k, image in enumerate(images):
            folder = folders[k // args.n] if args.per_class else out
            pixels = image[0].numpy() if mode == "L" else image.permute(1, 2, 0).numpy()
            try:
                Image.fromarray(pixels, mode).save(folder / f"{k:06d}.png")
            except OSError as exc:
                from .files import reason
                raise GanzooError(f"{folder / f'{k:06d}.png'}: could not write ({reason(exc, folder)}); "
                                  f"{k} of {len(images)} written") from None
        write_text(out / "manifest.json", json.dumps(manifest, indent=2), "the export manifest")
    print(f"ganzoo: {len(images):,} samples of {loaded.path} (seed {seed}) written to {out}", file=sys.stderr)
    return 0
