"""Optimiser and schedule options shared by every stage that trains (train, distill, prune fine-tune, QAT)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from toolkit.config import StageConfig, StrictModel


class TrainingFields(StrictModel):
    """SGD or AdamW, cosine/one-cycle/constant schedule with warm-up, label smoothing, AMP on CUDA."""

    epochs: int = Field(10, gt=0, le=100000)
    optimizer: Literal["sgd", "adamw"] = "sgd"
    lr: float = Field(0.05, gt=0.0, le=10.0, description="peak learning rate")
    momentum: float = Field(0.9, ge=0.0, lt=1.0, description="SGD momentum")
    nesterov: bool = True
    weight_decay: float = Field(5e-4, ge=0.0, le=1.0, description="not applied to norms and biases")
    schedule: Literal["cosine", "onecycle", "constant"] = "cosine"
    warmup_epochs: float = Field(0.0, ge=0.0, description="linear warm-up from lr/10 (cosine, constant)")
    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0)
    batch_size: int | None = Field(None, ge=1, description="null: data.batch_size")
    amp: bool = Field(True, description="mixed precision on CUDA (bf16 where supported, else fp16)")
    amp_cpu: bool = Field(False, description="bf16 autocast on the CPU where torch has native bf16 kernels "
                                             "(AVX512-BF16 or AMX; fp32 with a warning elsewhere): about 2x "
                                             "faster CIFAR ResNet training on such CPUs; off by default since "
                                             "it changes the numerics")
    channels_last: bool | None = Field(None, description="train in the channels_last (NHWC) memory format; null: on "
                                                        "CUDA only (on a CPU it speeds some models and slows others: "
                                                        "ResNet-20 1.3x faster, MobileNetV2 1.4x slower on AVX2)")
    grad_clip: float | None = Field(None, gt=0.0, description="clip the global L2 norm of the gradients to this "
                                                              "(e.g. 1.0; against divergence)")
    eval_every: int = Field(1, ge=0, description="validate every N epochs (0: only after the last)")
    augment: bool = Field(True, description="use the data set's train augmentation")
    lr_scaling: Literal["split", "linear", "none"] = Field(
        "split", description="several processes -- split: the batch is the global batch, each process takes "
                             "batch/N, lr unchanged (the one-process optimisation); linear: each process takes "
                             "the batch and the lr grows xN over a gradual ramp of max(warmup_epochs, "
                             "min(5, epochs/4)) epochs (Goyal et al. 2017); none: each takes the batch, lr unchanged")
    sync_batchnorm: bool = Field(False, description="several GPU processes: SyncBatchNorm across them (CUDA only)")
    swa_epochs: int = Field(0, ge=0, description="stochastic weight averaging (Izmailov et al., UAI 2018): average "
                                                 "the weights over the last N epochs, run at swa_lr (constant, or "
                                                 "in cycles: swa_cycle_epochs), then recompute BatchNorm "
                                                 "statistics; the average is the stage's model (0: off)")
    swa_lr: float | None = Field(None, gt=0.0, le=10.0, description="learning rate of the averaging epochs (cosine "
                                                                    "anneals to it before them; constant steps to "
                                                                    "it); null: half the peak lr (the paper's 0.1 "
                                                                    "-> 0.05)")
    swa_cycle_epochs: int = Field(0, ge=0, description="cyclical averaging: the lr falls linearly from swa_lr to "
                                                       "swa_lr/100 over each cycle of this many epochs and the "
                                                       "weights join the average at each cycle's end; must divide "
                                                       "swa_epochs (0: constant swa_lr, averaged after every "
                                                       "epoch)")

    @model_validator(mode="after")
    def _warmup_shorter_than_training(self) -> TrainingFields:
        if self.warmup_epochs >= self.epochs:
            raise ValueError(f"warmup_epochs ({self.warmup_epochs}) must be < epochs ({self.epochs})")
        if self.swa_epochs > self.epochs:
            raise ValueError(f"swa_epochs ({self.swa_epochs}) must be <= epochs ({self.epochs})")
        if not self.swa_epochs and (self.swa_cycle_epochs or self.swa_lr is not None):
            raise ValueError("swa_lr and swa_cycle_epochs take effect only with swa_epochs > 0")
        if self.swa_cycle_epochs and self.swa_epochs % self.swa_cycle_epochs:
            raise ValueError(f"swa_epochs ({self.swa_epochs}) must be a multiple of swa_cycle_epochs "
                             f"({self.swa_cycle_epochs}) so that training ends at a cycle's end")
        if self.swa_epochs and self.schedule == "onecycle":
            raise ValueError("swa_epochs needs schedule cosine or constant (one-cycle ends near lr 0, where "
                             "averaging gains nothing)")
        return self

    def swa_learning_rate(self) -> float:
        """The constant lr of the averaging epochs (swa_lr, or half the peak lr)."""
        return self.swa_lr if self.swa_lr is not None else self.lr / 2


class TrainingOptions(TrainingFields, StageConfig):
    """Training options of a stage (the shared fields plus the stage's name)."""

    def trains(self) -> bool:
        """Train and distill always train."""
        return True
