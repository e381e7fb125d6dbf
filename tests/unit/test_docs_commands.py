"""The documentation site builds (`mkdocs build --strict`) and shows only commands that exist.

Every `compress` command in README.md and docs/ (code blocks, `torchrun ... -m toolkit` lines and inline code) is
parsed by the real click command, without running it: the subcommand, each option and, in code blocks, the
arguments and values too. `pip install -e ".[extra]"` lines name real extras, `python -m benchmarks.NAME` lines real
benchmark scripts and flags, `pytest -m` lines real markers. Nothing here imports torch.
"""

from __future__ import annotations

import configparser
import importlib.util
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import click
import pytest

from toolkit.cli import main as compress

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^(\s*)(```|~~~)")
COMMAND = re.compile(r"(compress|torchrun|python3?|pip|pytest|bash) ")
SHELL_OPERATORS = {"|", "||", "&&", ";", ">", ">>", "<", "&", "2>", "2>&1"}


def _fenced_lines(text: str) -> tuple[list[str], str]:
    """Lines inside fenced code blocks (continuations joined), and the text outside them."""
    inside, lines, prose, pending = False, [], [], ""
    for line in text.splitlines():
        if FENCE.match(line):
            inside = not inside
            continue
        if not inside:
            prose.append(line)
            continue
        line = pending + line.strip()
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        lines.append(line[2:] if line.startswith("$ ") else line)
    return lines, "\n".join(prose)


def _words(command: str) -> list[str]:
    """Shell words up to the first operator (`> docs/recipes.md`, `| head`), comments dropped."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    words = []
    for word in lexer:
        if word in SHELL_OPERATORS or set(word) <= set("|&;<>()"):
            break
        words.append(word)
    return words


def _shown_commands() -> list[tuple[str, str, bool]]:
    """(page, command, from a code block) for every command the pages show."""
    shown = []
    for page in PAGES:
        name = str(page.relative_to(ROOT))
        lines, prose = _fenced_lines(page.read_text(encoding="utf-8"))
        shown += [(name, line.strip(), True) for line in lines if COMMAND.match(line.strip())]
        shown += [(name, " ".join(span.split()), False) for span in re.findall(r"`([^`]+)`", prose)
                  if COMMAND.match(" ".join(span.split()))]
    return shown


def _compress_args(words: list[str]) -> list[str] | None:
    """The arguments after `compress` (or after `-m toolkit` in a torchrun line), or None."""
    if words[:1] == ["compress"]:
        return words[1:]
    if words[:1] == ["torchrun"] and "-m" in words and words[words.index("-m") + 1:][:1] == ["toolkit"]:
        return words[words.index("-m") + 2:]
    return None


def _option_names(command: click.Command) -> set[str]:
    return {name for param in command.params if isinstance(param, click.Option)
            for name in (*param.opts, *param.secondary_opts)} | {"-h", "--help"}


def _check_options(command: click.Command, words: list[str], what: str) -> None:
    unknown = [w for w in words if w.startswith("-") and w != "-" and w.split("=", 1)[0] not in _option_names(command)]
    usage = "compress" if command is compress else f"compress {command.name}"
    assert not unknown, f"{what}: no option {unknown} (`{usage} --help`)"


def _check_compress(args: list[str], what: str, whole: bool) -> None:
    rest = list(args)
    group_takes_value = {name for param in compress.params if isinstance(param, click.Option) and not param.is_flag
                         for name in param.opts}
    while rest and rest[0].startswith("-"):
        _check_options(compress, rest[:1], what)
        rest = rest[2:] if rest[0] in group_takes_value else rest[1:]
    if not rest or rest[0].isupper():  # `compress --plugin my_module`, `compress COMMAND --help`
        return
    assert rest[0] in compress.commands, f"{what}: no subcommand '{rest[0]}' (has {sorted(compress.commands)})"
    sub = compress.commands[rest[0]]
    _check_options(sub, rest[1:], what)
    if whole:  # a command shown to be copied: arguments, values and their types parse too
        try:
            sub.make_context(rest[0], rest[1:])
        except click.exceptions.Exit:
            pass
        except click.UsageError as exc:
            raise AssertionError(f"{what}: {exc.format_message()}") from exc


def test_every_compress_command_in_the_readme_and_docs_parses():
    checked = 0
    for page, command, whole in _shown_commands():
        words = _words(command)
        args = _compress_args(words)
        if args is not None:
            _check_compress(args, f"{page}: `{command}`", whole)
            checked += 1
    assert checked >= 30  # the pages show many; zero would mean the extraction broke


def _extras() -> set[str]:
    """The optional-dependency groups of pyproject.toml (tomllib is Python 3.11+; the project allows 3.10)."""
    text = (ROOT / "pyproject.toml").read_text()
    try:
        import tomllib
    except ModuleNotFoundError:
        section = text.split("[project.optional-dependencies]", 1)[1].split("\n[", 1)[0]
        return set(re.findall(r"^([\w-]+)\s*=", section, re.M))
    return set(tomllib.loads(text)["project"]["optional-dependencies"])


def test_pip_benchmark_and_pytest_lines_name_what_exists():
    extras = _extras()
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    markers = {line.split(":", 1)[0].strip() for line in config.get("tool:pytest", "markers").splitlines() if line}
    for page, command, _ in _shown_commands():
        what = f"{page}: `{command}`"
        for extra in re.findall(r"""pip install -e ["']?\.\[([\w,-]+)\]""", command):
            assert set(extra.split(",")) <= set(extras), f"{what}: pyproject.toml has no such extra"
        words = _words(command)
        if len(words) > 2 and words[:2] == ["python", "-m"] and re.fullmatch(r"benchmarks\.[a-z_0-9]+", words[2]):
            script = ROOT / "benchmarks" / f"{words[2].split('.', 1)[1]}.py"
            assert script.is_file(), f"{what}: no {script.relative_to(ROOT)}"
            flags = [w for w in words[3:] if w.startswith("--")]
            assert all(f'"{flag}"' in script.read_text() for flag in flags), f"{what}: a flag the script lacks"
        if words[:1] == ["bash"] and len(words) > 1 and words[1].endswith(".sh"):
            script = ROOT / words[1]
            assert script.is_file(), f"{what}: no {words[1]}"
            assert all(flag in script.read_text() for flag in words[2:] if flag.startswith("--")), what
        if words[:1] == ["pytest"] and "-m" in words:
            expression = words[words.index("-m") + 1]
            named = set(re.findall(r"\w+", expression)) - {"not", "and", "or"}
            assert named <= markers, f"{what}: setup.cfg declares no marker {named - markers}"


def test_every_benchmark_result_has_a_page_that_includes_it():
    for result in sorted((ROOT / "benchmarks" / "results").glob("*.md")):
        page = ROOT / "docs" / "results" / result.name
        assert page.is_file(), f"{result.name}: add docs/results/{result.name} (and its line in mkdocs.yml's nav)"
        assert f'--8<-- "benchmarks/results/{result.name}"' in page.read_text(), page
        assert f"results/{result.name}" in (ROOT / "mkdocs.yml").read_text(), f"{result.name}: not in the nav"


def test_the_readme_links_to_files_that_exist():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = [t.split("#", 1)[0] for t in re.findall(r"\]\(([^)\s]+)\)", readme) if "://" not in t]
    assert targets and [t for t in targets if t and not (ROOT / t).exists()] == []


def test_mkdocs_build_strict(tmp_path):
    for module in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed (pip install -e \".[docs]\")")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"),
                           "-d", str(tmp_path / "site")], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "site" / "api" / "index.html").read_text().count("doc-object") > 3  # the API reference
    title = (ROOT / "benchmarks" / "results" / "frontier_quick.md").read_text().splitlines()[0].lstrip("# ")
    assert title in (tmp_path / "site" / "results" / "frontier_quick" / "index.html").read_text()  # included
