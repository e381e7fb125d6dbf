"""The Python API's inputs: your torch Dataset or DataLoader pairs as a DataBundle, and the checks that every
public entry point (toolkit.api) runs on its arguments, so that a wrong one is a UserInputError naming it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import ConfigDict, TypeAdapter, ValidationError

from toolkit.errors import UserInputError
from toolkit.recipe.problems import problems_from

if TYPE_CHECKING:  # torch loads on first use: `from toolkit import write_report` (checked here) stays light
    import torch

    from toolkit.data.bundle import DataBundle

Problems = list[tuple[str, str]]  # (argument, what is wrong with it)


def shown(value: Any) -> str:
    """The type and a short repr of a refused value: "str 'resnet18'", "int 3"."""
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


def path_problem(value: Any) -> str | None:
    """None for a non-empty str or os.PathLike, else what was expected."""
    if isinstance(value, (str, os.PathLike)) and str(os.fspath(value)).strip():
        return None
    return f"expected a path (a str or pathlib.Path), not {shown(value)}"


def type_problem(value: Any, kinds: tuple[type, ...], expected: str) -> str | None:
    """None when `value` is one of `kinds` (a bool is not an int here), else what was expected."""
    if isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds):
        return None
    return f"expected {expected}, not {shown(value)}"


def optional_problem(value: Any, kinds: tuple[type, ...], expected: str) -> str | None:
    """`type_problem` that also accepts None."""
    return None if value is None else type_problem(value, kinds, f"{expected} or None")


def add_problems(problems: Problems, **found: str | None) -> None:
    """Append (argument, problem) for every argument whose problem is not None."""
    problems.extend((name, problem) for name, problem in found.items() if problem)


def refuse(where: str, problems: Problems) -> None:
    """Raise UserInputError listing every problem, each naming its argument; return when there are none."""
    if problems:
        raise UserInputError(f"{where}: " + "; ".join(f"{name}: {message}" for name, message in problems))


def field_value(owner: type, field: str, value: Any, name: str, problems: Problems) -> Any:
    """`value` checked against a recipe field's type and limits, strictly ('8' is not 8); None and a problem
    naming `name` when it does not fit."""
    info = owner.model_fields[field]
    try:
        # strict as a config, not a Strict() marker: a marker cannot apply to a union (data.image_size)
        kind = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
        return TypeAdapter(kind, config=ConfigDict(strict=True)).validate_python(value)
    except ValidationError as exc:
        problems.append((name, f"{exc.errors(include_url=False)[0]['msg']}, not {shown(value)}"))
        return None


def spec_of(cls: type, value: Any, name: str, problems: Problems, example: str) -> Any:
    """A spec object from itself or a dict; else None and problems naming `name` and the field
    (`model.arch: Field required`, `data.bogus: unknown key`)."""
    if isinstance(value, cls):
        return value
    if not isinstance(value, dict):
        problems.append((name, f"expected a dict like {example} or a {cls.__name__}, not {shown(value)}"))
        return None
    try:
        return cls.model_validate(value)
    except ValidationError as exc:
        problems.extend(problems_from(exc, cls, name))
        return None


def flag_problems(values: dict[str, Any], problems: Problems) -> None:
    """A problem for each of `values` (argument name -> value) that is not True or False."""
    for name, value in values.items():
        add_problems(problems, **{name: type_problem(value, (bool,), "True or False")})


def hooks_problems(hooks: Any, problems: Problems) -> None:
    """Problems of a `hooks=` argument: None, or a dict of event name -> list of functions."""
    if hooks is None:
        return
    if not isinstance(hooks, dict) or not all(isinstance(k, str) for k in hooks):
        problems.append(("hooks", (f"expected a dict of event name -> list of functions, e.g. "
                                   f"{{'epoch_end': [my_function]}}, not {shown(hooks)}")))
        return
    for event, functions in hooks.items():
        if not isinstance(functions, (list, tuple)) or not all(callable(f) for f in functions):
            problems.append((f"hooks[{event!r}]", f"expected a list of functions, not {shown(functions)}"))


def overrides_problem(overrides: Any) -> str | None:
    """None for None or a list of 'key=value' strings, else what was expected."""
    if overrides is None or (isinstance(overrides, (list, tuple)) and all(isinstance(o, str) for o in overrides)):
        return None
    return f"expected a list of 'key=value' strings such as ['stages.0.train.epochs=1'], not {shown(overrides)}"


@dataclass
class DatasetImages:
    """A user's Dataset of (image tensor, label) pairs, already transformed by the user's own transforms."""

    dataset: Any
    workers: int = 0

    def __len__(self) -> int:
        return len(self.dataset)

    @property
    def labels(self) -> torch.Tensor:
        """Labels in dataset order (read once, used for calibration labels)."""
        if not hasattr(self, "_labels"):
            import torch

            self._labels = torch.tensor([int(self.dataset[i][1]) for i in range(len(self.dataset))])
        return self._labels

    def subset(self, indices: torch.Tensor) -> DatasetImages:
        """A view restricted to `indices`."""
        import torch

        return DatasetImages(torch.utils.data.Subset(self.dataset, indices.tolist()), self.workers)

    def batches(self, order: torch.Tensor, batch_size: int, mean, std, augment, gen, drop_last: bool = False,
                with_index: bool = False) -> Iterator:
        """Batches in `order` through a DataLoader (normalisation and augmentation are the user's transforms)."""
        if with_index:
            raise ValueError("per-sample indices are not available for user datasets")
        import torch

        loader = torch.utils.data.DataLoader(self.dataset, batch_size=batch_size, sampler=order.tolist(),
                                             num_workers=self.workers, drop_last=drop_last)
        for images, labels in loader:
            yield images.float(), torch.as_tensor(labels, dtype=torch.long)


def _dataset(obj: Any, role: str):
    import torch

    if isinstance(obj, torch.utils.data.DataLoader):
        return obj.dataset, obj.batch_size
    if hasattr(obj, "__getitem__") and hasattr(obj, "__len__"):
        return obj, None
    raise UserInputError(f"data: the {role} part must be a torch Dataset or DataLoader, not {type(obj).__name__}")


def _count_problem(value: Any, least: int, what: str) -> str | None:
    if type_problem(value, (int,), "") is None and value >= least:
        return None
    return f"expected {what} (an int of at least {least}), not {shown(value)}"


def bundle_from_datasets(train: Any, val: Any, num_classes: int | None = None, batch_size: int = 64,
                         workers: int = 0) -> DataBundle:
    """Wrap (train, val) Datasets or DataLoaders; class count from `.classes`, else from `num_classes`.

    Raises UserInputError naming a wrong argument, or datasets that are empty or do not hold (image, label) pairs.
    """
    problems: Problems = []
    add_problems(problems, num_classes=None if num_classes is None else _count_problem(num_classes, 2, "a class count"),
                 batch_size=_count_problem(batch_size, 1, "a batch size"),
                 workers=_count_problem(workers, 0, "a number of loader processes"))
    refuse("data", problems)
    import torch

    from toolkit.data.bundle import DataBundle

    train_ds, train_bs = _dataset(train, "train")
    val_ds, val_bs = _dataset(val, "validation")
    if len(train_ds) == 0 or len(val_ds) == 0:
        raise UserInputError(f"data: empty dataset (train {len(train_ds)}, validation {len(val_ds)} items)")
    first = train_ds[0]
    if not (isinstance(first, (tuple, list)) and len(first) >= 2 and isinstance(first[0], torch.Tensor)
            and first[0].ndim == 3):
        raise UserInputError("data: items must be (image tensor C x H x W, label) pairs; add a ToTensor transform")
    try:
        int(first[1])
    except (TypeError, ValueError):
        raise UserInputError(f"data: labels must be class numbers (ints), not {shown(first[1])}") from None
    classes = list(getattr(train_ds, "classes", []) or [])
    if not classes:
        if num_classes is None:
            raise UserInputError("data: give num_classes= (the dataset has no .classes attribute)")
        classes = [str(i) for i in range(num_classes)]
    from toolkit.config import InputShape

    shape = InputShape(*(int(d) for d in first[0].shape))
    if shape.channels not in (1, 3):
        raise UserInputError(f"data: images of {shape.channels} channels (C x H x W {tuple(shape)}); the toolkit "
                             f"takes 1 (grayscale) or 3 (RGB)")
    # The user's transforms already normalise: mean 0 / std 1 keeps the tensors as they are.
    return DataBundle(DatasetImages(train_ds, workers), DatasetImages(val_ds, workers), classes, shape,
                      (0.0,) * shape.channels, (1.0,) * shape.channels, None, train_bs or batch_size,
                      val_bs or batch_size,
                      {"source": f"user datasets {type(train_ds).__name__}/{type(val_ds).__name__}"})
