"""How long the newcomer's commands take to answer: `compress validate --schema-only`, `compress stages`, `--help`.

    python -m benchmarks.cli_startup [--runs N] [--compare REV] [--out DIR]

Each command runs in a fresh process (`python -m toolkit ...`, what the `compress` script runs), once untimed so
that the files are in the OS cache, then --runs times; the table gives the median and the fastest wall time and
the median CPU time (user + sys) of the process, which a loaded machine inflates less than the wall time. The
target is under 1 s each on an idle machine. The heavy imports column is read from `-X importtime` in one more
run: none of torch, torchvision, onnxruntime and openvino should load on these paths.

--compare REV also times the toolkit as it was at git revision REV (its files from `git archive`, run from a
temporary folder), alternating with this checkout run by run so that a change in the machine's load hits both.
Writes results/cli_startup_<date>.{md,json}, stamped with the machine, its load average and the versions.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

from benchmarks.common import RESULTS, write_results

REPO = Path(__file__).resolve().parents[1]
COMMANDS = {
    "compress validate --schema-only recipes/quickstart.yaml": ["validate", "--schema-only", "recipes/quickstart.yaml"],
    "compress stages": ["stages"],
    "compress --help": ["--help"],
}
HEAVY = ("torch", "torchvision", "onnxruntime", "openvino")
TARGET_S = 1.0


def timed_run(args: list[str], cwd: Path) -> tuple[float, float]:
    """Wall and CPU (user + sys) seconds of one `python -m toolkit ARGS` process run in `cwd`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "toolkit", *args], cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{args} in {cwd} failed ({done.returncode}): {done.stderr[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def heavy_imports(args: list[str], cwd: Path) -> list[str]:
    """The heavy packages a run of the command imports (from `python -X importtime`)."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "toolkit", *args], cwd=cwd,
                          capture_output=True, text=True)
    loaded = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    return [name for name in HEAVY if name in loaded]


def checkout_of(rev: str, into: Path) -> Path:
    """The files of git revision `rev` (toolkit/ and recipes/) under `into` (nothing of this checkout changes)."""
    archive = subprocess.run(["git", "archive", "--format=tar", rev, "toolkit", "recipes"], cwd=REPO,
                             capture_output=True, check=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def measure(checkouts: dict[str, Path], runs: int) -> list[dict]:
    """Rows of the table: per command and checkout, wall and CPU seconds over `runs` alternating runs."""
    walls: dict[tuple[str, str], list[float]] = {}
    cpus: dict[tuple[str, str], list[float]] = {}
    for label, cwd in checkouts.items():  # untimed: the files into the OS cache, the bytecode compiled
        for args in COMMANDS.values():
            timed_run(args, cwd)
    for _ in range(runs):
        for command, args in COMMANDS.items():
            for label, cwd in checkouts.items():
                wall, cpu = timed_run(args, cwd)
                walls.setdefault((command, label), []).append(wall)
                cpus.setdefault((command, label), []).append(cpu)
    rows = []
    for command, args in COMMANDS.items():
        for label, cwd in checkouts.items():
            wall = statistics.median(walls[command, label])
            rows.append({"command": command, "toolkit": label, "wall_median_s": round(wall, 3),
                         "wall_min_s": round(min(walls[command, label]), 3),
                         "cpu_median_s": round(statistics.median(cpus[command, label]), 3),
                         "heavy_imports": ", ".join(heavy_imports(args, cwd)) or "none",
                         "under_1s": "yes" if wall < TARGET_S else "NO"})
    return rows


def main(argv: list[str] | None = None) -> int:
    """Time the commands and write the results (the under_1s column says which met the target)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per command (the median is reported)")
    parser.add_argument("--compare", metavar="REV", default=None, help="also time the toolkit at git revision REV")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        checkouts = {"this checkout": REPO}
        if args.compare:
            commit = subprocess.run(["git", "rev-parse", "--short", args.compare], cwd=REPO, capture_output=True,
                                    text=True, check=True).stdout.strip()
            checkouts[f"at {commit}"] = checkout_of(args.compare, Path(tmp))
        rows = measure(checkouts, max(1, args.runs))
    load_after = os.getloadavg()
    fmt = lambda v: ", ".join(f"{x:.2f}" for x in v)  # noqa: E731
    notes = [f"{args.runs} timed runs per command after one untimed run, each a fresh `python -m toolkit` process "
             f"(Python {sys.version.split()[0]}); wall clock from start to exit, CPU = the process's user + sys.",
             f"Load average (1, 5, 15 min): {fmt(load_before)} at the start, {fmt(load_after)} at the end, on "
             f"{os.cpu_count()} CPUs. The target is under {TARGET_S:.0f} s on an idle machine; on a loaded one the "
             f"wall time grows and the CPU time much less.",
             "heavy imports: which of " + ", ".join(HEAVY) + " the command imported (python -X importtime)."]
    name = f"cli_startup_{time.strftime('%Y-%m-%d')}"
    _, md = write_results(name, "CLI start-up: the commands a newcomer runs first", rows,
                          ["command", "toolkit", "wall_median_s", "wall_min_s", "cpu_median_s", "heavy_imports",
                           "under_1s"], notes, out_dir=args.out)
    print(md.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
