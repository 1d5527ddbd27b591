"""The `ganzoo` command. Exit codes: 0 success, 2 bad input (one line on stderr), 130 interrupted."""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from .errors import GanzooError


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, like every other bad input
        raise GanzooError(message if self.prog == "ganzoo" else f"{self.prog}: {message}")


def _parser(plugins=None) -> argparse.ArgumentParser:
    """The built-in commands, and those the plugins add (hook ganzoo_add_commands)."""
    from .contract import KINDS

    p = _Parser(prog="ganzoo", description="A pluggable zoo of GAN variants.")
    p.add_argument("--version", action="store_true", help="print the version and exit")
    sub = p.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")

    def overrides(sp):
        sp.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a recipe key, value parsed as YAML (repeatable), e.g. train.steps=1000")

    run = sub.add_parser("run", help="train a recipe")
    run.add_argument("recipe", help="recipe file, or the name of a recipe a plugin provides (ganzoo recipe list)")
    overrides(run)
    run.add_argument("--out", metavar="DIR", help="run directory (default: runs/<recipe>-<timestamp>)")
    run.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                     help="progress bar (default: a bar on a terminal, a line per log window in a log file)")
    run.add_argument("--quiet", dest="progress", action="store_false", help="no progress at all (--no-progress)")
    run.add_argument("--nproc", type=int, default=None, metavar="N",
                     help="data-parallel on N processes of this machine (runs torchrun; see README for multi-node)")

    resume = sub.add_parser("resume", help="continue a run from its newest checkpoint")
    resume.add_argument("run_dir", metavar="RUN_DIR")
    resume.add_argument("--checkpoint", metavar="PATH", help="a specific checkpoint (default: the newest)")
    overrides(resume)
    resume.add_argument("--allow-changes", default="", metavar="KEY,...",
                        help="recipe keys (or sections) allowed to differ from the checkpoint's, e.g. train.steps")
    resume.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None)
    resume.add_argument("--quiet", dest="progress", action="store_false", help="no progress at all")

    lst = sub.add_parser("list", help="list components, with the plugin and package providing each")
    lst.add_argument("kind", nargs="?", help="a kind of component: " + ", ".join(KINDS))
    lst.add_argument("--pattern", default="*", help="glob on component names, e.g. 'mlp*'")
    lst.add_argument("--plugin", help="only the components of this plugin")
    lst.add_argument("--package", help="only the components of this package (distribution)")
    lst.add_argument("-v", "--verbose", action="store_true", help="also list each component's options")

    sub.add_parser("plugins", help="list plugins with their versions and load failures")

    recipe = sub.add_parser("recipe", help="recipe tools")
    recipe_sub = recipe.add_subparsers(dest="recipe_command", parser_class=_Parser, metavar="COMMAND")
    show = recipe_sub.add_parser("show", help="print the fully resolved recipe")
    show.add_argument("recipe")
    overrides(show)
    recipe_sub.add_parser("list", help="the recipes the plugins provide: name, package, description")

    sample = sub.add_parser("sample", help="write a grid of samples from a run's checkpoint")
    sample.add_argument("run_dir", metavar="RUN_DIR")
    sample.add_argument("-n", type=int, default=64, help="number of images (default 64)")
    sample.add_argument("-o", "--output", metavar="PNG", help="output file (default RUN_DIR/samples/sample-<step>.png)")
    sample.add_argument("--checkpoint", metavar="PATH", help="a specific checkpoint (default: the newest)")
    sample.add_argument("--seed", type=int, default=0, help="seed of the latent vectors (default 0)")
    sample.add_argument("--class", dest="label", type=int, help="class to generate (class-conditional recipes)")
    sample.add_argument("--device", default="cpu", help="device to sample on (default cpu)")

    ev = sub.add_parser("eval", help="score a run's checkpoint with metrics")
    ev.add_argument("run_dir", metavar="RUN_DIR")
    ev.add_argument("--metrics", default="", metavar="NAME,...",
                    help="metrics to compute (default: the recipe's), e.g. fid,kid or '[{name: cas, samples: 60000}]'")
    ev.add_argument("--checkpoint", metavar="PATH", help="a specific checkpoint (default: the newest)")
    ev.add_argument("--seed", type=int, help="seed of the samples (default: the recipe's eval.seed)")
    ev.add_argument("--device", default="auto", help="device (default auto)")

    _score_arguments(sub.add_parser("score", help="score a folder (or .npz) of images against a dataset, folder "
                                                 "or statistics file"))
    _export_arguments(sub.add_parser("export", help="write a run's samples as a dataset (PNG files or one .npz) "
                                                   "with a manifest"))

    be = sub.add_parser("bench", help="train recipes side by side under one budget; table, CSV and chart")
    be.add_argument("recipes", nargs="+", metavar="RECIPE")
    budget = be.add_mutually_exclusive_group(required=True)
    budget.add_argument("--steps", type=int, help="training steps per run")
    budget.add_argument("--seconds", type=float, help="training seconds per run")
    be.add_argument("--seeds", type=int, default=3, help="seeds per recipe (default 3)")
    be.add_argument("--jobs", type=int, default=1, help="runs at once, each in its own process (default 1)")
    be.add_argument("--metrics", default="fid", help="metrics, e.g. fid,kid or '[{name: fid, samples: 2000}]'")
    be.add_argument("--eval-every", type=int, help="steps between evaluations (default: a quarter of --steps)")
    overrides(be)
    be.add_argument("-o", "--out", required=True, metavar="DIR", help="output folder (bench.md, bench.csv, bench.png)")

    rep = sub.add_parser("report", help="(re)write a run's report.html")
    rep.add_argument("run_dir", metavar="RUN_DIR")

    newp = sub.add_parser("new-plugin", help="write a ready-to-install plugin package")
    newp.add_argument("name", metavar="NAME", help="lower-case name, e.g. my_gan")
    newp.add_argument("--dir", default=".", help="parent folder (default: here)")

    docs = sub.add_parser("docs", help="generate the recipe reference from the option schemas")
    docs.add_argument("--output", metavar="MD", help="write it here (default: print it)")
    docs.add_argument("--check", metavar="MD", help="exit 2 if this checked-in copy is stale")

    for name, (command, plugin) in sorted((plugins.commands if plugins else {}).items()):
        command.add_arguments(sub.add_parser(name, help=f"{command.help} [plugin {plugin}]"))
    return p


def _score_arguments(parser) -> None:
    parser.add_argument("samples", help="folder of images, or an .npz / .pt file of them")
    parser.add_argument("--reference", required=True,
                        help="dataset name (mnist, ...), folder of images, or .npz of statistics (mu, sigma)")
    parser.add_argument("--split", default="train", choices=["train", "test"],
                        help="split of a reference dataset (default train)")
    parser.add_argument("--metrics", default="fid", help="fid,kid,... or a YAML list (default fid)")
    parser.add_argument("--features", help="feature network (default: the reference dataset's, else inception_fid)")
    parser.add_argument("--reference-samples", type=int, help="reference images (default: as many as samples)")
    parser.add_argument("--size", type=int, help="side images are resized to (default: the first image's)")
    parser.add_argument("--seed", type=int, default=0, help="which reference images are drawn (default 0)")
    parser.add_argument("--save-stats", help="write the reference's feature statistics to this .npz")
    parser.add_argument("--device", default="cpu")


def _export_arguments(parser) -> None:
    parser.add_argument("run_dir")
    parser.add_argument("-n", type=int, default=10000, help="samples (per class with --per-class; default 10000)")
    parser.add_argument("--format", choices=["png", "npz"], default="png")
    parser.add_argument("--per-class", action="store_true", help="n samples of each class, one subfolder each")
    parser.add_argument("-o", "--output", required=True, help="folder (png) or .npz file")
    parser.add_argument("--seed", type=int, help="sampling seed (default: the run's eval seed)")
    parser.add_argument("--checkpoint", help="checkpoint file (default: the newest)")
    parser.add_argument("--device", default="cpu")


def main(argv: list[str] | None = None) -> int:
    try:
        argv = list(sys.argv[1:] if argv is None else argv)
        if argv[:1] == ["--version"]:
            from . import __version__
            print(__version__)
            return 0
        from .plugins import load_plugins

        plugins = load_plugins()
        parser = _parser(plugins)
        args = parser.parse_args(argv)
        args.argv, args.plugins = argv, plugins
        if args.command is None or (args.command == "recipe" and args.recipe_command is None):
            parser.print_help()
            return 2
        if args.command in plugins.commands:
            return plugins.commands[args.command][0].run(args) or 0
        return COMMANDS[args.command](args) or 0
    except GanzooError as exc:
        print(f"ganzoo: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ganzoo: interrupted", file=sys.stderr)
        return 130


# --- commands ---------------------------------------------------------------------------------

def _launch_torchrun(nproc: int, argv: list[str]) -> int:
    """Re-run this command under torchrun on `nproc` local processes (without --nproc)."""
    import subprocess

    if not 1 <= nproc <= 1024:
        raise GanzooError(f"run --nproc: expected an integer in [1, 1024], got {nproc}")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
               "-m", "ganzoo", *argv]
    return subprocess.call(command)


def cmd_run(args) -> int:
    from . import distributed
    from .loop import train
    from .recipe import load_recipe

    plugins = args.plugins
    recipe = load_recipe(args.recipe, args.set, plugins)
    stamp = os.environ.get("GANZOO_RUN_STAMP") or time.strftime("%Y%m%d-%H%M%S")
    out = Path(args.out) if args.out else Path("runs") / f"{recipe.stem}-{stamp}"
    if args.nproc is not None and not distributed.launched_by_torchrun():
        # every rank must agree on the run directory, so the launcher picks it
        argv = [a for a in args.argv]
        i = next(i for i, a in enumerate(argv) if a == "--nproc" or a.startswith("--nproc="))
        del argv[i:i + (1 if "=" in argv[i] else 2)]
        os.environ["GANZOO_RUN_STAMP"] = stamp
        if not args.out:
            argv += ["--out", str(out)]
        return _launch_torchrun(args.nproc, argv)
    if (out / "checkpoints").is_dir() and any((out / "checkpoints").iterdir()):
        raise GanzooError(f"{out}: already holds a run; continue it with `ganzoo resume {out}` or choose another --out")
    if out.exists() and not out.is_dir():
        raise GanzooError(f"--out {out}: exists and is not a directory")
    try:
        return _exit_code(train(recipe, out, plugins, progress=args.progress))
    finally:
        distributed.teardown()


def _exit_code(run) -> int:
    """0 when the run finished; 128 + the signal number when a signal stopped it (after a checkpoint)."""
    import signal

    return 128 + signal.Signals[run.stopped_by].value if run.stopped_by else 0


def recipe_changes(old: dict, new: dict) -> list[str]:
    """Keys whose values differ between two resolved recipes (added and removed keys too)."""
    from .options import flatten

    a, b = flatten(old), flatten(new)
    return sorted(k for k in a.keys() | b.keys() if a.get(k, object()) != b.get(k, object()))


def cmd_resume(args) -> int:
    from . import checkpoint as ckpt
    from .loop import train
    from .recipe import apply_overrides, resolve

    run_dir = Path(args.run_dir)
    path = Path(args.checkpoint) if args.checkpoint else ckpt.newest(run_dir)
    state = ckpt.load(path)
    plugins = args.plugins
    old = state["recipe"]
    recipe = resolve(apply_overrides(old, args.set), plugins.registry, str(run_dir / "recipe.yaml"))
    allowed = [a.strip() for a in args.allow_changes.split(",") if a.strip()]
    changed = [k for k in recipe_changes(old, recipe.to_dict())
               if not any(k == a or k.startswith(a + ".") for a in allowed)]
    if changed:
        raise GanzooError(f"{run_dir}: the recipe differs from the checkpoint's in {', '.join(changed)}; "
                          f"pass --allow-changes {','.join(changed)} to accept")
    for name, version in state.get("plugins", {}).items():
        now = plugins.versions().get(name)
        if now != version:
            print(f"ganzoo: warning: plugin {name!r} was {version} when the checkpoint was written, now "
                  f"{now or 'not installed'}", file=sys.stderr)
    from . import distributed

    try:
        return _exit_code(train(recipe, run_dir, plugins, resume=state, progress=args.progress))
    finally:
        distributed.teardown()


def cmd_list(args) -> int:
    from .contract import KINDS
    from .errors import did_you_mean
    from .options import describe_schema

    plugins = args.plugins
    if args.kind and args.kind not in KINDS:
        raise GanzooError(f"list: unknown kind {args.kind!r}; kinds: {', '.join(KINDS)}{did_you_mean(args.kind, KINDS)}")
    for flag, value, known in (("--plugin", args.plugin, [i.name for i in plugins.infos]),
                               ("--package", args.package, sorted({i.package for i in plugins.infos}))):
        if value is not None and value not in known:
            raise GanzooError(f"list {flag}: no plugin {'named' if flag == '--plugin' else 'from package'} {value!r}; "
                              f"known: {', '.join(known)}{did_you_mean(value, known)}")
    entries = [e for e in plugins.registry.list(args.kind, args.pattern)
               if args.plugin in (None, e.plugin) and args.package in (None, e.package)]
    rows = [(e.component.kind, e.component.name, e.plugin, f"{e.package} {e.version}", e.component.help)
            for e in entries]
    _table(("KIND", "NAME", "PLUGIN", "PACKAGE", "DESCRIPTION"), rows)
    if not args.kind:
        print(f"\nkinds: {', '.join(KINDS)}")
    if args.verbose:
        for e in entries:
            print(f"\n{e.component.kind} {e.component.name}:")
            for name, allowed, default, help_text in describe_schema(e.component.options):
                print(f"  {name}: {allowed} (default {default!r}) {help_text}")
    return 0


def cmd_plugins(args) -> int:
    plugins = args.plugins
    rows = [(i.name, i.package, i.version, "failed: " + i.error if i.error else "loaded") for i in plugins.infos]
    _table(("PLUGIN", "PACKAGE", "VERSION", "STATUS"), rows)
    return 0


def cmd_recipe(args) -> int:
    from .recipe import list_recipes, load_recipe

    if args.recipe_command == "list":
        rows = [(r.name, f"{r.package} {r.version}", r.status, r.description) for r in list_recipes(args.plugins)]
        _table(("RECIPE", "PACKAGE", "STATUS", "DESCRIPTION"), rows)
        return 0
    recipe = load_recipe(args.recipe, args.set, args.plugins)
    print(f"# resolved from {recipe.source}")
    print(recipe.to_yaml(), end="")
    return 0


def cmd_sample(args) -> int:
    import torch

    from .api import load_checkpoint
    from .images import save_samples

    if not 1 <= args.n <= 4096:
        raise GanzooError(f"sample -n: expected an integer in [1, 4096], got {args.n}")
    loaded = load_checkpoint(args.run_dir, args.checkpoint, args.device)
    for net in loaded.nets.values():
        net.eval()
    inputs = loaded.objective.fixed_inputs(loaded.nets, args.n, torch.Generator().manual_seed(args.seed),
                                           label=args.label)
    images = loaded.objective.sample(loaded.nets, inputs)
    step = loaded.state["step"]
    output = Path(args.output) if args.output else Path(args.run_dir) / "samples" / f"sample-{step:08d}.png"
    save_samples(images, output, loaded.info, loaded.plugins)
    print(output)
    return 0


def cmd_eval(args) -> int:
    import dataclasses
    import json

    from .api import load_checkpoint
    from .bench import parse_metrics
    from .evaluation import build_evaluator

    if args.seed is not None and args.seed < 0:
        raise GanzooError(f"eval --seed: expected an integer >= 0, got {args.seed}")
    loaded = load_checkpoint(args.run_dir, args.checkpoint, args.device)
    recipe = loaded.recipe
    if args.seed is not None:
        recipe = dataclasses.replace(recipe, eval=dataclasses.replace(recipe.eval, seed=args.seed))
    device = loaded.device
    metrics = parse_metrics(args.metrics)
    evaluator = build_evaluator(recipe, loaded.plugins.registry, device, metrics or None)
    if evaluator is None:
        raise GanzooError(f"{args.run_dir}: the recipe has no eval.metrics; name some with --metrics, e.g. --metrics fid")
    scores, fingerprints = evaluator.evaluate(loaded.objective, loaded.nets, loaded.info, device)
    step = loaded.state["step"]
    result = {"checkpoint": str(loaded.path), "step": step, "seed": recipe.eval.seed, "scores": scores,
              "fingerprints": fingerprints}
    (Path(args.run_dir) / f"eval-step-{step:08d}.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return 0


def cmd_score(args) -> int:
    from .score import cmd_score as score
    return score(args)


def cmd_export(args) -> int:
    from .score import cmd_export as export
    return export(args)


def cmd_bench(args) -> int:
    from .bench import bench, parse_metrics

    if args.steps is not None and args.steps < 1:
        raise GanzooError(f"bench --steps: expected an integer >= 1, got {args.steps}")
    if args.seconds is not None and not args.seconds > 0:
        raise GanzooError(f"bench --seconds: expected a number > 0, got {args.seconds}")
    if not 1 <= args.seeds <= 100:
        raise GanzooError(f"bench --seeds: expected an integer in [1, 100], got {args.seeds}")
    if args.eval_every is not None and args.eval_every < 1:
        raise GanzooError(f"bench --eval-every: expected an integer >= 1, got {args.eval_every}")
    if not 1 <= args.jobs <= 64:
        raise GanzooError(f"bench --jobs: expected an integer in [1, 64], got {args.jobs}")
    from .recipe import find_recipe

    dirs = args.plugins.recipe_dirs()
    recipes = [str(find_recipe(r, dirs)) for r in args.recipes]
    out = Path(args.out)
    table = bench(recipes, out, args.steps, args.seconds, args.seeds, parse_metrics(args.metrics), args.eval_every,
                  args.set, args.jobs)
    print((out / "bench.md").read_text(), end="")
    print(f"table: {out / 'bench.md'}, {out / 'bench.csv'}; chart: {out / 'bench.png'} ({table['key']})")
    return 0


def cmd_report(args) -> int:
    from .report import write_report

    run_dir = Path(args.run_dir)
    if not (run_dir / "metrics.jsonl").is_file():
        raise GanzooError(f"{run_dir}: not a run directory (no metrics.jsonl)")
    print(write_report(run_dir))
    return 0


def cmd_new_plugin(args) -> int:
    from .scaffold import new_plugin

    root = new_plugin(args.name, Path(args.dir))
    print(f"wrote {root}; install it with: pip install -e {root}  (then: ganzoo list --pattern '{args.name}*')")
    return 0


def cmd_docs(args) -> int:
    from .docs import recipe_reference
    from .plugins import load_plugins

    text = recipe_reference(load_plugins(autoload=False).registry)  # built-ins only: the same everywhere
    if args.check:
        path = Path(args.check)
        if not path.is_file() or path.read_text() != text:
            raise GanzooError(f"{path}: stale recipe reference; regenerate it with: ganzoo docs --output {path}")
        print(f"{path}: up to date")
    elif args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(text)
        print(args.output)
    else:
        print(text, end="")
    return 0


COMMANDS = {"run": cmd_run, "resume": cmd_resume, "list": cmd_list, "plugins": cmd_plugins,
            "recipe": cmd_recipe, "sample": cmd_sample, "eval": cmd_eval, "score": cmd_score,
            "export": cmd_export, "bench": cmd_bench, "report": cmd_report,
            "new-plugin": cmd_new_plugin, "docs": cmd_docs}
BUILTIN_COMMANDS = tuple(COMMANDS)


def _table(header, rows) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)] if rows else [len(h) for h in header]
    for row in (header, *rows):
        print("  ".join(str(x).ljust(w) for x, w in zip(row, widths)).rstrip())
