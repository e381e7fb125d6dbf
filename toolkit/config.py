"""Pydantic specs shared by recipes and the Python API: model, data, measurement and the stage-config base."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, NamedTuple

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, ValidationInfo, field_validator
from pydantic import SerializerFunctionWrapHandler, model_serializer
from pydantic_core import PydanticCustomError

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
STAGE_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,47}$"
MAX_MEASURE_BATCH = 4096  # a timed batch is allocated whole: a typo like 1000000 must not exhaust memory
MIN_SIDE, MAX_SIDE = 8, 1024  # pixels per image side a recipe may ask for


class InputShape(NamedTuple):
    """One image as every model of a run sees it: (channels, height, width), in pixels.

    Made from `data.image_size` and `data.channels` (DataSpec.input_shape) and carried by the DataBundle; model
    construction, dummy inputs, ONNX shapes and engine profiles all read it from there."""

    channels: int
    height: int
    width: int

    @classmethod
    def of(cls, image_size: int | Sequence[int], channels: int = 3) -> InputShape:
        """From an image size (an int: square; or (height, width)) and a channel count."""
        height, width = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        return cls(int(channels), int(height), int(width))

    def batch(self, n: int) -> tuple[int, int, int, int]:
        """The (N, C, H, W) shape of a batch of `n` images."""
        return (n, self.channels, self.height, self.width)

    @property
    def image_size(self) -> int | list[int]:
        """The recipe's (and JSON's) form: an int for a square, else [height, width]."""
        return self.height if self.height == self.width else [self.height, self.width]

    @property
    def text(self) -> str:
        """'96x160' (height x width, as the recipe writes it)."""
        return f"{self.height}x{self.width}"


def size_text(image_size: Any) -> str:
    """'32x32' or '96x160' for an image size as run.json holds it (an int or [height, width]); '?' otherwise."""
    if type(image_size) is int:
        return f"{image_size}x{image_size}"
    if isinstance(image_size, (list, tuple)) and len(image_size) == 2 and all(type(v) is int for v in image_size):
        return f"{image_size[0]}x{image_size[1]}"
    return "?"


def _image_size(value: Any) -> Any:
    """data.image_size: an int (square) or [height, width], each side MIN_SIDE..MAX_SIDE pixels; [s, s] is s.

    Raises PydanticCustomError with one line naming what is wrong (a union type's own errors list every member)."""
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise PydanticCustomError("image_size", f"expected an integer (square images) or [height, width], "
                                                    f"not {len(value)} values")
        sides = list(value)
    elif type(value) is int:
        sides = [value]
    else:
        raise PydanticCustomError("image_size", "expected an integer (square images) or [height, width]")
    got = f" (got {value!r})" if len(sides) == 2 else ""  # an int is shown by the caller, a list is not
    for side in sides:
        if type(side) is not int:
            raise PydanticCustomError("image_size", f"each side must be an integer number of pixels{got}")
        if not MIN_SIDE <= side <= MAX_SIDE:
            raise PydanticCustomError("image_size", f"each side must be from {MIN_SIDE} to {MAX_SIDE} pixels{got}")
    return sides[0] if len(sides) == 1 or sides[0] == sides[1] else (sides[0], sides[1])


ImageSize = Annotated[int | tuple[int, int], BeforeValidator(_image_size)]


class StrictModel(BaseModel):
    """Base for every spec: unknown keys are errors, values are checked on assignment too, and a float
    must be finite (a NaN mean or learning rate would silently train on NaN)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class ModelSpec(StrictModel):
    """Which network to build: a registered or torchvision name, or 'package.module:function'."""

    arch: str = Field(description="seed_cnn, resnet20/32/44/56/110, any torchvision classifier, 'timm:NAME' (a timm "
                                  "model; pip install -e \".[timm]\"), or 'pkg.mod:fn' (pkg.py may sit beside the "
                                  "recipe)")
    num_classes: int | None = Field(None, ge=2, le=1_000_000, description="defaults to the data set's class count")
    weights: str | None = Field(None, description="torchvision weights name, read from the local torch hub cache")
    checkpoint: Path | None = Field(None, description="state_dict file (.safetensors, .pt, .pth), relative to the "
                                                      "recipe")
    small_input: bool = Field(False, description="adapt the stem of ImageNet models to 32x32 inputs")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="extra keyword arguments for the factory")
    logits: int | str | None = Field(None, description="which output is the logits when forward returns several: "
                                                       "an index or a dict key; null: the first tensor of a "
                                                       "tuple, or the 'logits'/'out' key of a dict")
    code_dir: Path | None = Field(None, description="folder a 'pkg.mod:fn' module is imported from by its file path "
                                                    "(never put on sys.path), relative to the recipe; null: the "
                                                    "recipe's folder when pkg.py or pkg/ is there, else installed")

    @model_serializer(mode="wrap")
    def _code_dir_only_when_set(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # without it, every recipe's model spec (and so every cache key made before code_dir existed) would change
        data = handler(self)
        if self.code_dir is None:
            data.pop("code_dir", None)
        return data


class AugmentSpec(StrictModel):
    """Train-time augmentation; evaluation never augments."""

    crop: Literal["none", "pad", "random_resized"] = Field(
        "pad", description="pad: pad by `padding` pixels and crop back at a random place; random_resized: a random "
                           "area (25-100%) and aspect, resized back (ImageNet style); none: no crop")
    padding: int = Field(4, ge=0, le=64, description="pixels of padding for crop: pad")
    flip: bool = Field(True, description="random horizontal flips")
    erase: float = Field(0.0, ge=0.0, le=1.0, strict=True,  # strict: `erase: true` is not a probability
                         description="probability (0 to 1) per image of random erasing (Zhong et al., AAAI 2020): "
                                     "a rectangle of 2-33% of the area, aspect 0.3-3.3, set to the mean colour; 0: "
                                     "off. Setting data.augment replaces the data set's default augmentation, so "
                                     "give crop and flip too")


class DataSpec(StrictModel):
    """Where images come from and how they are batched."""

    dataset: str = Field("digits", description="digits, imagefolder, cifar10, cifar100, synthetic, or a registered "
                                               "name")
    root: Path | None = Field(None, description="data folder (imagefolder, cifar*), relative to the recipe")
    image_size: ImageSize = Field(32, description="side of square images, or [height, width] (e.g. [96, 160]), "
                                                  "in pixels; each side 8 to 1024")
    channels: Literal[1, 3] = Field(3, description="image channels: 3 (RGB) or 1 (grayscale); mean and std have "
                                                   "this many values")
    batch_size: int = Field(64, ge=1, le=65536, description="training batch size (a stage's batch_size overrides it)")
    eval_batch_size: int = Field(256, ge=1, le=65536, description="batch size of evaluation (validation top-1)")
    val_fraction: float = Field(0.2, gt=0.0, lt=1.0, description="validation share for data sets without a split")
    mean: tuple[float, ...] | None = Field(None, description="per-channel normalisation mean (one value per channel)")
    std: tuple[float, ...] | None = Field(None, description="per-channel normalisation std (one value per channel)")
    augment: AugmentSpec | None = Field(None, description="null: the data set's default augmentation")
    in_memory: bool | None = Field(None, description="decode once into RAM; null: when it fits (< 2 GiB)")
    workers: int = Field(2, ge=0, le=64, description="DataLoader workers for streamed data sets")
    download: bool = Field(False, description="let torchvision download cifar10/cifar100 (needs a network)")
    limit_train: int | None = Field(None, ge=1, description="use a seeded subset of this many train images")
    limit_val: int | None = Field(None, ge=1, description="use a seeded subset of this many validation images")
    num_samples: int = Field(512, ge=2, description="synthetic: number of images")
    num_classes: int = Field(10, ge=2, description="synthetic: number of classes")
    on_bad_file: Literal["skip", "error"] = Field("skip", description="unreadable image files: skip and list, or fail")
    options: dict[str, Any] = Field(default_factory=dict, description="keyword arguments for custom data sets")

    @field_validator("mean", "std")
    @classmethod
    def _one_per_channel(cls, value: tuple[float, ...] | None, info: ValidationInfo) -> tuple[float, ...] | None:
        channels = info.data.get("channels")  # absent when channels itself was refused
        if value is not None and channels is not None and len(value) != channels:
            hint = "; set data.channels: 1 for grayscale" if len(value) == 1 else ""
            raise PydanticCustomError("channels", f"{channels} value{'' if channels == 1 else 's'} for channels: "
                                                  f"{channels}, got {len(value)}{hint}")
        if value is not None and info.field_name == "std" and min(value) <= 0:
            raise ValueError("every std must be > 0")
        return value

    def key_dict(self, exclude: set[str] | None = None) -> dict[str, Any]:
        """The spec as cache-key data (JSON); `channels` only when it is not 3, so that the keys of runs made
        before it existed still match theirs."""
        data = self.model_dump(mode="json", exclude=exclude)
        if data.get("channels") == 3:
            del data["channels"]
        return data

    @property
    def input_shape(self) -> InputShape:
        """(channels, height, width) of the images the model sees: the one definition every part reads."""
        return InputShape.of(self.image_size, self.channels)


class MeasureSpec(StrictModel):
    """How every stage's model is measured: runtimes, batch sizes and the timing method."""

    runtimes: list[str] = Field(
        default_factory=lambda: ["torch-cpu", "onnxruntime-cpu", "openvino-cpu"],
        description="runtimes to time each model on; unavailable ones are recorded as skipped",
    )
    batch_sizes: list[int] = Field(default_factory=lambda: [1, 32], min_length=1,
                                   description="batch sizes to time each model at")
    warmup_s: float = Field(0.5, ge=0.0, le=60.0, description="time-based warm-up before timing")
    min_iters: int = Field(50, ge=1, le=100000, description="at least this many timed runs")
    min_time_s: float = Field(1.0, ge=0.0, le=600.0, description="and at least this long")
    max_time_s: float = Field(30.0, gt=0.0, le=3600.0, description="stop timing after this long (flagged)")
    threads: int | None = Field(None, ge=1, le=512, description="CPU threads; null: the runtime's default")
    accuracy: bool = Field(True, description="evaluate top-1/top-5 on the validation split")
    max_stage_drop: float | None = Field(
        10.0, ge=0.0, le=100.0, description="top-1 points a stage may lose against its input before it is marked "
                                            "degraded (null: no bound; chance level is always checked)")

    @field_validator("batch_sizes")
    @classmethod
    def _valid_batches(cls, value: list[int]) -> list[int]:
        if any(b < 1 or b > MAX_MEASURE_BATCH for b in value):
            raise ValueError(f"batch sizes must be from 1 to {MAX_MEASURE_BATCH}")
        return sorted(set(value))

    @field_validator("runtimes")
    @classmethod
    def _unique_runtimes(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


class StageFacts(StrictModel):
    """Facts from elsewhere in the recipe that a stage needs at run time, resolved when the recipe is validated.

    Each stage that needs some declares its own subclass (QuantizeFacts, DistillFacts, EngineFacts); a stage's
    code reads them typed from `cfg.resolved`, never from the recipe."""


class StageConfig(StrictModel):
    """Base of every stage's options. `name` names its folder and lets later stages refer to it."""

    stage_type: ClassVar[str] = ""
    name: str | None = Field(
        None, pattern=STAGE_NAME_PATTERN, description="folder and reference name; defaults to the stage type"
    )

    def key_dict(self) -> dict[str, Any]:
        """The options that change the stage's result (the name only changes where it is stored)."""
        return self.model_dump(mode="json", exclude={"name"})

    def check_chain(self, earlier: list[tuple[str, str, str]]) -> list[tuple[str, str]]:
        """Cross-stage checks before compute; `earlier` is (name, type, format) of preceding stages."""
        return []

    def check_recipe(self, recipe) -> list[tuple[str, str]]:
        """Checks that need the whole validated recipe (runtimes, later stages); (field, problem) pairs."""
        return []

    def trains(self) -> bool:
        """Whether this stage runs a training loop (then every rank of a distributed run takes part)."""
        return False

    _resolved: StageFacts | None = PrivateAttr(default=None)

    def resolve(self, recipe) -> StageFacts | None:
        """Facts from elsewhere in the recipe that this stage needs or that change its result (quantize's 'auto'
        scheme, a teacher's position, the engine's profile batch sizes), as this stage's own typed StageFacts
        model. The recipe stores them as `resolved` when it is validated; they are part of the stage's cache
        key. `recipe` is None outside a recipe (a config used alone). Default: none."""
        return None

    @property
    def resolved(self) -> StageFacts | None:
        """What `resolve` returned for the recipe this config belongs to (None outside a recipe)."""
        return self._resolved

    def facts_key(self) -> dict[str, Any]:
        """The resolved facts as plain JSON data, for the stage's cache key ({} when there are none)."""
        return self._resolved.model_dump(mode="json") if self._resolved is not None else {}

    def resolve_paths(self, base_dir: Path) -> list[tuple[str, str]]:
        """Make input paths absolute against the recipe's folder; return (field, problem) for missing ones."""
        return []
