"""Describe the machine a measurement ran on: CPU and its int8 ISA, GPU, Jetson board, versions."""

from __future__ import annotations

import functools
import os
import platform
import re
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from toolkit.records import OK

INT8_ISA = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_int8", "amx_bf16",
            "amx_tile", "asimddp", "i8mm", "sve", "bf16")
PACKAGES = ("torch", "torchvision", "torch-pruning", "onnx", "onnxruntime", "onnxruntime-gpu", "openvino",
            "tensorrt", "numpy", "cnn-edge-toolkit")


def _cpuinfo() -> tuple[str, list[str], int | None]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine(), [], None
    model = re.search(r"^(model name|Hardware|Model)\s*:\s*(.+)$", text, re.M)
    flags = re.search(r"^(flags|Features)\s*:\s*(.+)$", text, re.M)
    cores = {m for m in re.findall(r"^physical id\s*:\s*(\d+)[\s\S]*?^core id\s*:\s*(\d+)", text, re.M)}
    present = set(flags.group(2).split()) if flags else set()
    return (model.group(2).strip() if model else platform.machine(),
            [f for f in INT8_ISA if f in present], len(cores) or None)


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def _gpu() -> dict[str, Any] | None:
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    props = torch.cuda.get_device_properties(0)
    info = {"name": props.name, "memory_gib": round(props.total_memory / 2**30, 1),
            "capability": f"{props.major}.{props.minor}", "count": torch.cuda.device_count(),
            "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version()}
    try:
        smi = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10)
        info["driver"] = smi.stdout.strip().splitlines()[0] if smi.returncode == 0 and smi.stdout else None
    except (OSError, subprocess.SubprocessError, IndexError):
        info["driver"] = None
    return info


def _jetson() -> dict[str, Any] | None:
    model_file, release = Path("/proc/device-tree/model"), Path("/etc/nv_tegra_release")
    if not model_file.exists() and not release.exists():
        return None
    info: dict[str, Any] = {}
    try:
        info["board"] = model_file.read_text().strip("\x00\n ")
    except OSError:
        pass
    try:
        info["l4t"] = release.read_text().splitlines()[0].strip("# ")
    except (OSError, IndexError):
        pass
    try:
        mode = subprocess.run(["nvpmodel", "-q"], capture_output=True, text=True, timeout=10)
        info["power_mode"] = mode.stdout.strip().splitlines()[0] if mode.returncode == 0 and mode.stdout else None
    except (OSError, subprocess.SubprocessError, IndexError):
        info["power_mode"] = None
    return info


def describe_device() -> dict[str, Any]:
    """Everything that explains a latency number: CPU, ISA flags, threads, GPU, Jetson, versions."""
    cpu, isa, cores = _cpuinfo()
    try:
        import torch

        threads = torch.get_num_threads()
    except ImportError:
        threads = None
    return {"cpu": cpu, "isa": isa, "physical_cores": cores, "logical_cpus": os.cpu_count(),
            "torch_threads": threads, "machine": platform.machine(), "os": platform.platform(),
            "gpu": _gpu(), "jetson": _jetson(), "versions": _versions()}


def device_slug(device: dict[str, Any]) -> str:
    """A short file-name-safe name for a device description (GPU name, else CPU model)."""
    name = (device.get("gpu") or {}).get("name") or (device.get("jetson") or {}).get("board") \
        or device.get("cpu") or "unknown"
    return re.sub(r"[^a-z0-9]+", "-", str(name).lower()).strip("-")[:60] or "device"


def machine_fingerprint(device: Any) -> str | None:
    """What makes two device descriptions the same machine for timing: CPU model and ISA, CPU count,
    architecture, GPU model and count, Jetson board. None for a description without a CPU or GPU name.

    Versions and load are left out on purpose: they explain a difference between two timings on one
    machine, they do not make it another machine."""
    from toolkit.fsutil import stable_hash

    if not isinstance(device, dict):
        return None
    gpu = device.get("gpu") if isinstance(device.get("gpu"), dict) else {}
    jetson = device.get("jetson") if isinstance(device.get("jetson"), dict) else {}
    if not device.get("cpu") and not gpu.get("name"):
        return None
    isa = device.get("isa")
    return stable_hash({"cpu": device.get("cpu"), "isa": sorted(map(str, isa)) if isinstance(isa, list) else None,
                        "logical_cpus": device.get("logical_cpus"), "machine": device.get("machine"),
                        "gpu": gpu.get("name"), "gpus": gpu.get("count"), "board": jetson.get("board")})


def same_machine(recorded: Any, here: dict[str, Any]) -> bool:
    """Whether a recorded device description is this machine (`here`, from describe_device)."""
    mine = machine_fingerprint(here)
    return mine is not None and machine_fingerprint(recorded) == mine


@functools.cache
def timing_session() -> str:
    """This process's timing session: latencies stamped with one session were measured by one process on
    one machine; comparing records of different sessions compares different moments (load, clocks)."""
    import uuid

    return f"{platform.node()[:40]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def stamp_session(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`records` with each measured one stamped with this process's `timing_session` (a record reused from
    an earlier stage keeps the session it was measured in)."""
    for rec in records:
        if rec.get("status") == OK and not rec.get("reused"):
            rec.setdefault("session", timing_session())
    return records
