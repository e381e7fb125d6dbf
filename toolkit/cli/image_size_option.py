"""`--input-size S` or `--input-size HxW`: an image size on the command line, checked as `data.image_size` is."""

from __future__ import annotations

from typing import Any

import click


class ImageSizeType(click.ParamType):
    """'32' (square) or '96x160' (height x width) -> 32 or (96, 160); each side 8 to 1024 pixels, as in a recipe.

    A bad value is click's usage error (exit 2) naming the option."""

    name = "SIZE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int | tuple[int, int]:
        """The checked size: an int for a square, else (height, width)."""
        if isinstance(value, (int, tuple)):
            return value
        from pydantic import TypeAdapter, ValidationError  # not at start-up: `compress --help` stays light

        from toolkit.config import ImageSize

        try:
            sides = [int(part) for part in str(value).lower().split("x")]
            return TypeAdapter(ImageSize).validate_python(sides[0] if len(sides) == 1 else sides)
        except ValueError as exc:  # int('a') and pydantic's ValidationError (a ValueError) alike
            why = exc.errors(include_url=False)[0]["msg"] if isinstance(exc, ValidationError) else "not a number"
            self.fail(f"{value!r}: {why}; give S (square) or HxW (height x width), e.g. 96x160", param, ctx)


IMAGE_SIZE = ImageSizeType()
