"""The one training loop: train, distill, prune fine-tuning and QAT all call `fit`."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from toolkit.fsutil import atomic_path
from toolkit.layout import CHECKPOINT_SUFFIX
from toolkit.measure.accuracy import evaluate, torch_predict
from toolkit.progress import epoch_title
from toolkit.site import TrainingEnv
from toolkit.train.batchnorm import refresh_batchnorm
from toolkit.train.divergence import DivergenceWatch
from toolkit.train.optim import make_optimizer, make_scheduler
from toolkit.train.options import TrainingFields
from toolkit.train.swa import WeightAverage

LossFn = Callable[..., tuple[torch.Tensor, torch.Tensor]]  # (model, images, labels, index) -> (loss, logits)


def cross_entropy(label_smoothing: float = 0.0) -> LossFn:
    """Plain classification loss: returns (loss, logits)."""
    criterion = nn.CrossEntropyLoss(label_smoothing=label_smoothing)

    def loss_fn(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, index=None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        logits = model(images)
        return criterion(logits, labels), logits

    return loss_fn


@contextlib.contextmanager
def deterministic_on(device: torch.device) -> Iterator[None]:
    """Deterministic kernels on the CPU for the duration of training (restored afterwards)."""
    if device.type != "cpu":
        yield
        return
    before, warn = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before, warn_only=warn)


def _amp(device: torch.device, enabled: bool, on_cpu: bool, log: Callable[[str], None]
         ) -> tuple[Any, torch.amp.GradScaler | None]:
    if device.type == "cpu" and on_cpu:
        # Without native bf16 (AVX512-BF16, AMX) oneDNN emulates it, slower than fp32: train in fp32 instead.
        if torch.ops.mkldnn._is_mkldnn_bf16_supported():
            return (lambda: torch.autocast("cpu", dtype=torch.bfloat16)), None
        log("amp_cpu: this CPU has no native bf16 kernels (AVX512-BF16 or AMX); training in fp32")
    if device.type != "cuda" or not enabled:
        return contextlib.nullcontext, None
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
    return (lambda: torch.autocast("cuda", dtype=dtype)), scaler


def _save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def _load_checkpoint(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - a damaged checkpoint only costs the epochs since the last good one
        return None


def _progress(env: TrainingEnv, total: int):
    if env.console is None or not env.is_main:
        return None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[stats]}"), TimeRemainingColumn(), console=env.console, transient=True)


def uses_channels_last(opts: TrainingFields, device: torch.device) -> bool:
    """NHWC is cuDNN's fast convolution layout, and oneDNN's for some models only (ResNet-20 1.3x faster,
    MobileNetV2 1.4x slower on an AVX2 CPU): on a CPU only when the recipe asks for it."""
    return opts.channels_last if opts.channels_last is not None else device.type == "cuda"


def fit(model: nn.Module, opts: TrainingFields, env: TrainingEnv, *, loss_fn: LossFn | None = None,
        extra_modules: nn.Module | None = None, tag: str = "train",
        regularizer: Callable[[nn.Module], Any] | None = None) -> dict[str, Any]:
    """Train `model` in place for opts.epochs, resuming from this stage's checkpoint; returns metrics.

    `loss_fn(model, images, labels) -> (loss, logits)` replaces cross-entropy (distillation);
    `extra_modules` are trained along (feature adapters); `regularizer(model)` runs after each backward.
    Epoch checkpoints go to `env.checkpoint_dir/<tag>.ckpt`; raises DivergenceError on a non-finite loss.
    """
    device = env.device
    model.to(device)
    channels_last = uses_channels_last(opts, device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    modules = [model] + ([extra_modules.to(device)] if extra_modules is not None else [])
    train_model = env.wrap_for_training(model, opts.sync_batchnorm)
    # linear: Goyal et al. 2017, the global batch is world x batch, so the lr grows by world -- gradually (optim).
    # split: the recipe's batch is the global one, so every process takes its share and nothing else changes.
    lr_scale = float(env.world_size) if env.world_size > 1 and opts.lr_scaling == "linear" else 1.0
    if env.world_size > 1 and opts.lr_scaling == "split":
        batch = opts.batch_size or env.data.batch_size
        opts = opts.model_copy(update={"batch_size": max(1, -(-batch // env.world_size))})
    optimizer = make_optimizer(modules, opts)
    steps = env.data.train_steps(opts.batch_size, env.world_size)
    scheduler = make_scheduler(optimizer, opts, steps, lr_scale)
    autocast, scaler = _amp(device, opts.amp, opts.amp_cpu, env.log.warning)
    loss_fn = loss_fn or cross_entropy(opts.label_smoothing)
    checkpoint = env.checkpoint_dir / f"{tag}{CHECKPOINT_SUFFIX}"
    watch = DivergenceWatch(env, tag, checkpoint, f" (the recipe's {opts.lr:.4g}, scaled up to x{lr_scale:g} for "
                                                  f"{env.world_size} processes)" if lr_scale > 1 else "")
    average = WeightAverage(model, opts) if opts.swa_epochs else None
    history: list[dict[str, Any]] = []
    start = 0
    state = _load_checkpoint(checkpoint)
    if state is not None and state.get("epochs") == opts.epochs:
        before = {k: v.detach().clone() for k, v in model.state_dict().items()}
        try:
            model.load_state_dict(state["model"])
            if extra_modules is not None and "extra" in state:
                extra_modules.load_state_dict(state["extra"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            if scaler is not None and "scaler" in state:
                scaler.load_state_dict(state["scaler"])
            if average is not None:
                average.load_state_dict(state["swa"])
            history, start = list(state["history"]), int(state["epoch"])
            env.log.info(f"{tag}: resuming after epoch {start} of {opts.epochs} from {checkpoint.name}")
        except (RuntimeError, KeyError, ValueError) as exc:  # a checkpoint of another model shape: start over
            model.load_state_dict(before)  # load_state_dict may have copied part of it before failing
            env.log.warning(f"{tag}: ignoring checkpoint {checkpoint.name} ({str(exc)[:120]})")
    progress = _progress(env, steps)
    with deterministic_on(device), (progress or contextlib.nullcontext()):
        for epoch in range(start, opts.epochs):
            record = _one_epoch(train_model, modules, loss_fn, optimizer, scheduler, scaler, autocast, opts, env,
                                epoch, steps, progress, tag, regularizer, watch)
            watch.check_weights(modules, epoch, record["lr"])  # before the checkpoint: it stays the last finite one
            last = epoch + 1 == opts.epochs
            averaged = average is not None and average.after_epoch(model, epoch)
            if (opts.eval_every and (epoch + 1) % opts.eval_every == 0) or last:
                model.eval()
                record["val_top1"] = evaluate(torch_predict(model, device), env.data.val_batches(),
                                              env.data.num_classes)["top1"]
                if averaged and not last:  # the last epoch's average is scored when it becomes the model
                    record["swa_val_top1"] = average.val_top1(env.data, device, env.seed)
            history.append(record)
            if env.is_main:
                snapshot = {"epoch": epoch + 1, "epochs": opts.epochs, "model": model.state_dict(),
                            "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                            "history": history}
                if extra_modules is not None:
                    snapshot["extra"] = extra_modules.state_dict()
                if scaler is not None:
                    snapshot["scaler"] = scaler.state_dict()
                if average is not None:
                    snapshot["swa"] = average.state_dict()
                _save_checkpoint(checkpoint, snapshot)
            # Logged after the checkpoint is on disk: an interruption after this line resumes after this epoch.
            env.log.info(f"{tag} epoch {epoch + 1}/{opts.epochs} loss {record['loss']:.4f} "
                         f"train top-1 {record['train_top1']:.4f}{_scores(record)} "
                         f"lr {record['lr']:.4g} {record['images_per_s']:.0f} img/s")
            env.after_epoch(epoch=epoch + 1, record=record)
    if channels_last:  # back to NCHW: safetensors and ONNX export want contiguous weights
        model.to(memory_format=torch.contiguous_format)
    if env.dist is not None and opts.sync_batchnorm:
        from toolkit.distributed import revert_sync_batchnorm

        revert_sync_batchnorm(model)  # SyncBatchNorm replaced the model's own BatchNorm children
    model.eval()
    # the last epoch is always evaluated, so its val top-1 is the last weights' score
    swa = average.apply(model, env.data, device, env.seed, history[-1]["val_top1"]) if average is not None else None
    if swa is not None:
        history[-1]["swa_val_top1"] = swa["val_top1_averaged"]
        say = env.log.warning if swa["val_top1_averaged"] < swa["val_top1_last_weights"] else env.log.info
        count = swa["snapshots_averaged"]
        say(f"{tag}: the average of {count} weight snapshot{'s' if count != 1 else ''} replaces the last weights: val "
            f"top-1 {swa['val_top1_last_weights']:.4f} -> {swa['val_top1_averaged']:.4f}"
            + (" (the average scores lower: check swa_lr and the epochs before averaging)"
               if say == env.log.warning else ""))
    ran = history[start:]
    # Running statistics averaged with a small momentum lag behind the weights; recompute when they disagree.
    # Not for QAT: its BatchNorm is folded, and a train-mode pass would also move the fake-quant observers.
    # Not after weight averaging either: it has just computed the statistics, from augmented batches on purpose.
    batchnorm = None if tag == "qat" or swa is not None else refresh_batchnorm(
        model, env.data, device, env.seed, lambda m: env.log.info(f"{tag}: {m}"),
        lambda m: env.log.warning(f"{tag}: {m}"), history[-1].get("train_top1") if history else None)
    return {"history": history, "epochs": opts.epochs, "resumed_from_epoch": start or None,
            "final_val_top1": history[-1].get("swa_val_top1", history[-1].get("val_top1")) if history else None,
            "images_per_s": round(sum(r["images_per_s"] for r in ran) / len(ran), 1) if ran else None,
            "batchnorm": batchnorm, "swa": swa}


def _scores(record: dict) -> str:
    """The epoch's validation scores for its log line; empty where `eval_every` skipped this epoch."""
    text = f" val top-1 {record['val_top1']:.4f}" if "val_top1" in record else ""
    return text + (f" (weight average {record['swa_val_top1']:.4f})" if "swa_val_top1" in record else "")


def _one_epoch(train_model, modules, loss_fn, optimizer, scheduler, scaler, autocast, opts, env, epoch, steps,
               progress, tag, regularizer=None, watch: DivergenceWatch | None = None) -> dict[str, Any]:
    for module in modules:
        module.train()
    device = env.device
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    seen = 0
    task = progress.add_task(epoch_title(env.name, tag, epoch + 1, opts.epochs), total=steps,
                             stats="") if progress else None
    t0 = time.perf_counter()
    with_index = bool(getattr(loss_fn, "wants_index", False))
    lr = optimizer.param_groups[0]["lr"]
    batches = env.data.train_batches(epoch, env.seed, batch_size=opts.batch_size, augment=opts.augment,
                                     rank=env.rank, world=env.world_size, with_index=with_index)
    for step, batch in enumerate(batches):
        images, labels = batch[0], batch[1]
        index = batch[2] if with_index else None
        images = images.to(device, non_blocking=True)
        labels = labels.to(device, non_blocking=True)
        if uses_channels_last(opts, device) and images.dim() == 4:
            images = images.contiguous(memory_format=torch.channels_last)
        with autocast():
            loss, logits = loss_fn(train_model, images, labels, index)
        if watch is not None:
            watch.observe(loss, epoch, step, optimizer.param_groups[0]["lr"])
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
        else:
            loss.backward()
        if regularizer is not None:
            regularizer(modules[0])
        lr = optimizer.param_groups[0]["lr"]  # the rate this step uses (the scheduler moves it after)
        if opts.grad_clip:
            torch.nn.utils.clip_grad_norm_([p for m in modules for p in m.parameters()], opts.grad_clip)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        scheduler.step()
        n = labels.shape[0]
        seen += n
        loss_sum += loss.detach().float() * n
        correct += (logits.detach().argmax(1) == labels).sum()
        if task is not None and (step % 10 == 0 or step + 1 == steps):
            progress.update(task, completed=step + 1,
                            stats=f"loss {loss_sum.item() / seen:.3f} {seen / (time.perf_counter() - t0):.0f} img/s")
    if task is not None:
        progress.remove_task(task)
    seconds = time.perf_counter() - t0
    return {"epoch": epoch + 1, "loss": round(loss_sum.item() / max(seen, 1), 6),
            "train_top1": round(correct.item() / max(seen, 1), 6), "lr": lr,
            "images_per_s": round(seen / max(seconds, 1e-9), 1), "seconds": round(seconds, 3)}
