"""User-facing errors: each one is printed as a short message by the CLI, never as a traceback."""

from __future__ import annotations

from collections.abc import Iterable


class ToolkitError(Exception):
    """An error caused by input or environment that the user can fix; `exit_code` is what the CLI returns."""

    exit_code = 1


class UserInputError(ToolkitError):
    """Bad input (recipe, data, arguments): exit code 2, nothing written."""

    exit_code = 2


class RecipeError(UserInputError):
    """One or more recipe problems, each a (path, message) pair, reported together."""

    def __init__(self, problems: Iterable[tuple[str, str]], source: str | None = None):
        self.problems = list(problems)
        self.source = source
        super().__init__(self.format())

    def format(self) -> str:
        """Format all problems as one block, one line per problem."""
        head = f"invalid recipe {self.source}" if self.source else "invalid recipe"
        lines = [f"{head}: {len(self.problems)} problem(s)"]
        lines += [f"  {path}: {message}" if path else f"  {message}" for path, message in self.problems]
        return "\n".join(lines)


class DataError(UserInputError):
    """A data set is missing, empty or inconsistent."""


class ArtifactError(UserInputError):
    """A model file is missing, truncated, tampered with or does not match its structure."""


class RunLockedError(ToolkitError):
    """Another live process holds the run folder."""

    exit_code = 3


class StageSkipped(Exception):
    """Raised by a stage whose capability is absent here (e.g. no TensorRT); the run goes on."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)
