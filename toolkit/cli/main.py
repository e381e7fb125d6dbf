"""The `compress` command: run, validate, stages, schema (and more as stages land)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from toolkit.cli.image_size_option import IMAGE_SIZE
from toolkit.cli.signals import guarded
from toolkit.errors import ToolkitError
from toolkit.version import __version__


def _stderr():
    from rich.console import Console

    return Console(stderr=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="compress")
@click.option("--plugin", "plugins", multiple=True, metavar="MODULE",
              help="import a Python module of yours first (custom stages, models, data sets)")
def main(plugins: tuple[str, ...]) -> None:
    """Compress image-classification CNNs: train, prune, distill, quantize, build engines, measure."""
    if plugins:
        from toolkit.errors import RecipeError
        from toolkit.recipe import load_plugins

        problems = load_plugins(list(plugins), Path.cwd())
        if problems:
            _stderr().print(f"error: {RecipeError(problems, '--plugin')}", style="red", markup=False)
            sys.exit(2)


@main.command()
@click.argument("recipe", type=click.Path(path_type=Path))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="override a field, e.g. stages.0.train.epochs=1")
@click.option("--fresh", is_flag=True, help="ignore cached stage results")
@click.option("--quiet", "-q", is_flag=True, help="no progress output")
@click.option("--nproc", type=click.IntRange(1, 1024), default=1,
              help="train on N processes of this machine (starts torchrun: GPUs with NCCL, CPUs with gloo)")
@click.option("--strict", is_flag=True, help="a degraded stage (at chance level, or more than "
                                             "measure.max_stage_drop below its input) stops the run")
@guarded(resumable=True)
@click.pass_context
def run(ctx: click.Context, recipe: Path, overrides: tuple[str, ...], fresh: bool, quiet: bool, nproc: int,
        strict: bool) -> None:
    """Run a recipe into runs/<name>/ (cached stages are reused); exit 4 if a stage is degraded."""
    import os

    from rich.console import Console

    from toolkit.cli.format import summary_tables
    from toolkit.run.pipeline import run_recipe
    from toolkit.run.timing import process_start_time

    if nproc > 1 and "WORLD_SIZE" not in os.environ:
        from toolkit.recipe import load_recipe
        from toolkit.run.launch import launch

        load_recipe(recipe, list(overrides))  # refuse a bad recipe before starting N processes
        plugins = [a for p in (ctx.parent.params.get("plugins") or ()) for a in ("--plugin", p)]
        args = [*plugins, "run", str(recipe), *[f"--set={o}" for o in overrides], *(["--fresh"] if fresh else []),
                *(["--quiet"] if quiet else []), *(["--strict"] if strict else [])]
        sys.exit(launch(nproc, args))
    rank0 = int(os.environ.get("RANK", "0")) == 0
    console = Console() if rank0 and not quiet else None
    try:
        result = run_recipe(recipe, overrides=list(overrides), fresh=fresh, console=console, strict=strict,
                            command_started=process_start_time())
    except ToolkitError:
        if rank0:
            _failed_run_summary(recipe, list(overrides))
        raise
    if not rank0:
        return
    out = Console()
    from toolkit.cli.run_summary import with_current_latency

    rows = [{**s.metrics, "status": s.status, "reason": s.reason, "cached": s.cached} for s in result.stages]
    for table in summary_tables(with_current_latency(result.run_dir, rows)):  # the latencies the report shows
        out.print(table)
    from toolkit.records import timing_line

    out.print(timing_line(result.run_dir), highlight=False)
    out.print(f"run folder: {result.run_dir}", highlight=False)
    if result.report_path:
        out.print(f"report: {result.report_path}", highlight=False)
    from toolkit.cli.run_summary import problem_lines
    from toolkit.run.verdict import StageDegradedError

    problems = problem_lines(rows)
    if problems:  # exit 4: the run completed, but a stage's model is not usable
        raise StageDegradedError("\n".join(problems))


def _failed_run_summary(recipe: Path, overrides: list[str]) -> None:
    """After a failed run: the stage table read back from its folder, so it says which stage failed and why."""
    from rich.console import Console

    from toolkit.cli.format import summary_tables
    from toolkit.cli.run_summary import stages_from_folder
    from toolkit.recipe import load_recipe

    try:
        rows = stages_from_folder(load_recipe(recipe, overrides).run_dir)
    except ToolkitError:
        return
    for table in summary_tables(rows) if rows else []:
        Console(stderr=True).print(table)


@main.command()
@click.argument("recipe", type=click.Path(path_type=Path))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE")
@click.option("--schema-only", is_flag=True, help="skip the pre-flight (building the data and the model) and torch; "
                                                  "torchvision and timm model names are then left to the pre-flight")
@guarded
def validate(recipe: Path, overrides: tuple[str, ...], schema_only: bool) -> None:
    """Check a recipe (schema, names, paths, stage order), then run's pre-flight: data, model, one image."""
    from contextlib import nullcontext

    from toolkit.models import names_only
    from toolkit.recipe import load_recipe

    # --schema-only starts without torch: model names only torchvision knows are left to the pre-flight
    with names_only() if schema_only else nullcontext([]) as left:
        sweep_plan = _sweep_plan(recipe, overrides)
        loaded = sweep_plan.recipe if sweep_plan else load_recipe(recipe, list(overrides))
    checked = "schema only"
    if left:
        names = ", ".join(dict.fromkeys(left))
        checked += f"; the pre-flight checks torchvision and timm names and module paths: {names}"
    if not schema_only:
        from toolkit.run.preflight import describe_shape, preflight, untrained_warning

        _, data, _ = preflight(loaded, lazy_data=True)
        checked = (f"pre-flight: {data.num_classes} classes, {describe_shape(data.input_shape)} image through "
                   f"{loaded.model.arch}")
        warning = untrained_warning(loaded)
        if warning:
            _stderr().print(f"warning: {warning}", style="yellow", highlight=False, markup=False, soft_wrap=True)
    if sweep_plan:
        checked += (f"; sweep: {sweep_plan.budget} trial(s) over {', '.join(d.path for d in sweep_plan.dimensions)}"
                    f", every value checked")
    click.echo(f"{recipe}: ok ({len(loaded.stages)} stages: {', '.join(loaded.stage_names())}; {checked})")


def _sweep_plan(recipe: Path, overrides: tuple[str, ...]) -> Any:
    """The checked sweep plan when the recipe has a `sweep:` section (every value of every dimension validated,
    as `compress sweep` does before it runs), else None. Raises UserInputError for --set on a sweep recipe."""
    from toolkit.errors import UserInputError
    from toolkit.recipe import read_yaml

    raw = read_yaml(recipe)
    if not isinstance(raw, dict) or "sweep" not in raw:
        return None
    if overrides:
        raise UserInputError(f"{recipe}: --set is not applied to a recipe with a sweep: section (its dimensions "
                             f"are the variants); edit the recipe")
    from toolkit.sweep.spec import load_sweep

    return load_sweep(recipe)


@main.command()
@click.option("--markdown", is_flag=True, help="Markdown reference (docs/recipes.md)")
def stages(markdown: bool) -> None:
    """List every recipe key and every stage's options, with defaults and help."""
    from toolkit.cli.stage_reference import stage_reference  # not cli.format: it imports what a table needs

    click.echo(stage_reference(markdown))


@main.command()
@click.argument("recipe", required=False, type=click.Path(path_type=Path))
@click.option("--model", "arch", help="model name (instead of a recipe), e.g. resnet18; or a Q/DQ FILE.onnx to "
                                     "check its placement for TensorRT")
@click.option("--input-size", type=IMAGE_SIZE, default=None,
              help="--model: input image size, S or HxW (default 224; 32 with --small-input); a recipe uses its "
                   "data's")
@click.option("--num-classes", type=click.IntRange(2, 100_000), default=1000, show_default=True,
              help="--model: classifier outputs")
@click.option("--small-input", is_flag=True, help="--model: adapt the stem for 32x32 inputs")
@click.option("--ignore", multiple=True, help="module name or glob to keep whole")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@guarded
def inspect(recipe: Path | None, arch: str | None, input_size: int | tuple[int, int] | None, num_classes: int,
            small_input: bool, ignore: tuple[str, ...], as_json: bool) -> None:
    """Pre-flight a model for pruning (groups, kept layers, a test prune as the recipe's first prune stage runs it,
    and export), or check the Q/DQ placement of an int8 ONNX file for TensorRT.

    Exit codes: 0 ok; 1 the model is not prunable, or a Q/DQ placement breaks a TensorRT fusion rule; 2 bad input:
    a recipe or option, or a --model FILE.onnx that is missing, too large, not ONNX or invalid (the error line
    names the file and the problem)."""
    from toolkit.cli.inspect_input import named_model_input, recipe_model_input
    from toolkit.errors import UserInputError
    from toolkit.prune.inspect import format_inspection, inspect_model

    if (recipe is None) == (arch is None):
        raise UserInputError("give a recipe or --model NAME (one of them)")
    if recipe is not None and recipe.suffix.lower() == ".onnx":  # the file in RECIPE's place, not --model's
        raise UserInputError(f"{recipe} is an ONNX file, not a recipe: compress inspect --model {recipe}")
    if arch is not None and arch.lower().endswith(".onnx"):  # a Q/DQ file: TensorRT placement check
        from toolkit.quantize.placement import inspect_file

        sys.exit(inspect_file(Path(arch), as_json, click.echo))
    prune, seed = None, 0  # without a recipe: the prune stage's defaults at a 0.5 ratio
    if recipe is not None:
        model, example, classes, title, prune, seed = recipe_model_input(recipe)
    else:
        model, example, title = named_model_input(arch, input_size, num_classes, small_input)
        classes = num_classes
    report = inspect_model(model, example, classes, list(ignore), prune, seed)
    click.echo(json.dumps(report, indent=2) if as_json else format_inspection(report, title))
    if not report["prunable"]:
        sys.exit(1)


@main.command()
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help="HTML file (default: RUN_DIR/report.html for one run, reports/<names>.html for several)")
@guarded
def report(run_dirs: tuple[Path, ...], output: Path | None) -> None:
    """(Re)build the HTML report of one run, or compare several runs in one page."""
    from toolkit.report import write_report

    if output is None:
        output = run_dirs[0] / "report.html" if len(run_dirs) == 1 else \
            Path("reports") / ("-vs-".join(d.name for d in run_dirs) + ".html")
    path = write_report(list(run_dirs), output)
    for warning in _report_warnings(path):  # what the page warns about is said here too, not only in the page
        _stderr().print(f"warning: {warning}", style="yellow", highlight=False, markup=False, soft_wrap=True)
    click.echo(f"report: {path}")


def _report_warnings(report_path: Path) -> list[str]:
    """The warnings of every run in the summary written beside `report_path` ([] when it cannot be read)."""
    from toolkit.fsutil import read_json

    stem = "summary" if report_path.name == "report.html" else f"{report_path.stem}.summary"
    try:
        summary = read_json(report_path.with_name(f"{stem}.json"))
    except ValueError:
        return []
    runs = summary.get("runs") if isinstance(summary, dict) else None
    return [str(w) for run in runs if isinstance(run, dict) for w in run.get("warnings") or []] \
        if isinstance(runs, list) else []


@main.command()
@click.argument("run_dir", required=False, type=click.Path(path_type=Path))
@click.option("--model", "model_file", type=click.Path(path_type=Path), help="measure one model file instead")
@click.option("--runtime", "runtimes", multiple=True, help="runtime to measure on (repeatable; default: the recipe's)")
@click.option("--batch-size", "batch_sizes", multiple=True, type=click.IntRange(1, 4096),
              help="batch size (repeatable)")
@click.option("--input-size", type=IMAGE_SIZE, default=None, help="--model: input size, S or HxW (engines need it)")
@click.option("--min-iters", type=click.IntRange(min=1), default=None,
              help="timed runs per record (default: the recipe's, or 50)")
@click.option("--trust-code", is_flag=True,
              help="run code the run folder names (its plugins:, 'module:function' models); only for folders you trust")
@guarded
def bench(run_dir: Path | None, model_file: Path | None, runtimes: tuple[str, ...], batch_sizes: tuple[int, ...],
          input_size: int | tuple[int, int] | None, min_iters: int | None, trust_code: bool = False) -> None:
    """Measure a run's models on this machine, a Jetson for one: writes NN-<stage>/measurements/<device>.json."""
    from rich.console import Console

    from toolkit.bench import bench_file, bench_run
    from toolkit.cli.format import summary_tables
    from toolkit.config import MeasureSpec
    from toolkit.errors import UserInputError
    from toolkit.records import OK

    if (run_dir is None) == (model_file is None):
        raise UserInputError("give a run folder or --model FILE (one of them)")
    timing = {"min_iters": min_iters} if min_iters else {}
    if model_file is not None:
        spec = MeasureSpec(**{k: v for k, v in {"runtimes": list(runtimes) or None,
                                                "batch_sizes": list(batch_sizes) or None, **timing}.items() if v})
        result = bench_file(model_file, spec, input_size, trust_code=trust_code)
        for table in summary_tables([{"index": 0, "name": model_file.name, "status": OK, **result}]):
            Console().print(table)
        return
    from toolkit.report import write_report

    paths = bench_run(run_dir, list(runtimes) or None, list(batch_sizes) or None, timing, log=click.echo,
                      trust_code=trust_code)
    report = write_report([run_dir], run_dir / "report.html")
    from toolkit.cli.bench_summary import measured_stages

    for table in summary_tables(measured_stages(paths)):  # the same table as `compress run`, its warning too
        Console().print(table)
    click.echo(f"{len(paths)} measurement file(s) written; {report} now shows them per device")


@main.command()
@click.argument("recipe", type=click.Path(path_type=Path))
@click.option("--at", "point", default=None, help="stage whose model to analyze (default: the trained baseline)")
@click.option("--runtime", default=None, help="runtime to time on (default: the prune target's, else measure's first)")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="batch size to time at")
@click.option("--samples", type=click.IntRange(min=1), default=2000, show_default=True,
              help="validation images for top-1 (the first N)")
@click.option("--rounds", type=click.IntRange(min=1, max=50), default=5, show_default=True,
              help="timing rounds (each variant right after the unpruned model)")
@click.option("--no-int8", is_flag=True, help="pruning only: skip the per-layer INT8 ranking")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="override a recipe field")
@click.option("--fresh", is_flag=True, help="ignore a cached or partial analysis")
@guarded(resumable=True)
def analyze(recipe: Path, point: str | None, runtime: str | None, batch_size: int | None, samples: int,
            rounds: int, no_int8: bool, overrides: tuple[str, ...], fresh: bool) -> None:
    """Sensitivity analysis: per prunable group and per quantizable layer, accuracy lost vs latency saved."""
    from toolkit.analyze.run import analyze_recipe
    from toolkit.recipe import load_recipe
    from toolkit.report.sensitivity_text import summary_lines

    loaded = load_recipe(recipe, list(overrides))
    path, result = analyze_recipe(loaded, at=point, runtime=runtime, batch_size=batch_size, samples=samples,
                                  rounds=rounds, int8=not no_int8, fresh=fresh,
                                  command=_analyze_command(recipe, point, runtime, batch_size, samples, rounds, no_int8,
                                                           overrides), log=click.echo)
    click.echo("\n".join(summary_lines(result)))
    click.echo(f"analysis: {path} (chart: {path.with_suffix('.svg').name}, {path.with_suffix('.png').name})")
    if (loaded.run_dir / "run.json").is_file():
        from toolkit.report import write_report

        click.echo(f"report: {write_report([loaded.run_dir], loaded.run_dir / 'report.html')}")


def _analyze_command(recipe, point, runtime, batch_size, samples, rounds, no_int8, overrides) -> str:
    """The analyze command line as given (recorded in the analysis JSON)."""
    options = {"--at": point, "--runtime": runtime, "--batch-size": batch_size, "--samples": samples,
               "--rounds": rounds}
    parts = ["compress", "analyze", str(recipe)] + [f"{k} {v}" for k, v in options.items() if v is not None]
    return " ".join(parts + (["--no-int8"] if no_int8 else []) + [f"--set {o}" for o in overrides])


@main.command()
@click.argument("recipe", type=click.Path(path_type=Path))
@click.option("--workers", type=click.IntRange(1, 256), default=1, show_default=True,
              help="local worker processes, each running trials")
@click.option("--storage", default=None, metavar="URL",
              help="postgresql://USER@HOST/DB to share the study between machines (default: the journal file in "
                   "the sweep folder)")
@click.option("--status", "show_status", is_flag=True, help="list the trials (state, values, parameters, run folder)")
@click.option("--heartbeat", "heartbeat_s", type=click.IntRange(1, 3600), default=None, metavar="SECONDS",
              help="with --storage: how often a worker reports it is alive (default 60); a trial silent for twice "
                   "that is run again by another worker")
@click.option("--worker", is_flag=True, hidden=True)
@click.option("--worker-index", type=click.IntRange(min=0), default=0, hidden=True)
@click.option("--quiet", is_flag=True, hidden=True)  # a worker under the coordinator's live table
@guarded(resumable=True)
@click.pass_context
def sweep(ctx: click.Context, recipe: Path, workers: int, storage: str | None, show_status: bool,
          heartbeat_s: int | None, worker: bool, worker_index: int, quiet: bool) -> None:
    """Explore the variants of a recipe's sweep: section on Optuna and keep the measured Pareto set (resumable)."""
    from toolkit.sweep.command import sweep_command

    sweep_command(recipe, workers=workers, storage=storage, status=show_status, worker=worker,
                  worker_index=worker_index, plugins=list(ctx.parent.params.get("plugins") or ()), say=click.echo,
                  heartbeat_s=heartbeat_s, quiet=quiet)


@main.command()
def schema() -> None:
    """Print the JSON schema of recipe files (for editor completion)."""
    from toolkit.recipe import recipe_json_schema

    click.echo(json.dumps(recipe_json_schema(), indent=2))


if __name__ == "__main__":
    main()
