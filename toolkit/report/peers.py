"""Peers: models made by other tools and measured on the same machine, which a recommendation must not lose to.

A run folder may hold `peers.json` (`benchmarks/frontier.py` writes one beside the toolkit's run; a user who
measured an alternative, e.g. a one-line PTQ of the same baseline, can write one by hand):

    {"format_version": 1,
     "peers": [{"name": "NNCF PTQ", "top1": 0.6125, "source": "benchmarks/frontier.py",
                "device": {... toolkit.measure.device.describe_device() ...},
                "latency": [{"runtime": "openvino-cpu", "batch_size": 1, "p50_ms": 0.41,
                             "ci_low_ms": 0.40, "ci_high_ms": 0.43}]}]}

top1 is a fraction (0-1) on the same validation split as the run; p50_ms in milliseconds (ci_*_ms: its
interval, optional). Without "device" a peer is taken as measured on the run's own machine. The report never
recommends a stage that a peer dominates (at least as accurate and faster beyond noise, same device and batch
size), and says which peer and why. Malformed entries are skipped and named, never raised.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from toolkit.fsutil import atomic_write_text

PEERS_FILE = "peers.json"
FORMAT_VERSION = 1


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _problem(peer: Any, index: int = 0) -> str | None:
    """Why a peer entry cannot be used, or None."""
    if not isinstance(peer, dict) or not isinstance(peer.get("name"), str) or not peer["name"]:
        return f"entry {index}: no name"
    if not _number(peer.get("top1")) or not 0.0 <= peer["top1"] <= 1.0:
        return f"{peer['name']}: top1 must be a fraction between 0 and 1"
    device = peer.get("device")
    if device is not None and not (isinstance(device, dict) and (device.get("cpu") or device.get("gpu"))):
        return (f"{peer['name']}: device must be a describe_device() object (with 'cpu' or 'gpu'), or left out "
                f"for the run's own machine")
    latency = peer.get("latency")
    if not isinstance(latency, list) or not all(
            isinstance(r, dict) and isinstance(r.get("runtime"), str) and isinstance(r.get("batch_size"), int)
            and _number(r.get("p50_ms")) and r["p50_ms"] > 0
            and all(r.get(k) is None or _number(r[k]) for k in ("ci_low_ms", "ci_high_ms")) for r in latency):
        return f"{peer['name']}: latency must be a list of {{runtime, batch_size, p50_ms > 0}}"
    return None


def read_peers(run_dir: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """(usable peers, problems) from `run_dir/peers.json`; ([], []) when there is none."""
    path = Path(run_dir) / PEERS_FILE
    if not path.is_file():
        return [], []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return [], [f"{path}: not readable JSON ({exc})"]
    entries = data.get("peers") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        return [], [f"{path}: no list under 'peers'"]
    usable, problems = [], []
    for index, peer in enumerate(entries, 1):
        problem = _problem(peer, index)
        if problem:
            problems.append(f"{path}: {problem}; skipped")
        else:
            usable.append(peer)
    return usable, problems


def write_peers(run_dir: Path, peers: list[dict[str, Any]]) -> Path:
    """Write `peers` (the entries described above) to `run_dir/peers.json` atomically; ValueError for a bad one."""
    for peer in peers:
        problem = _problem(peer)
        if problem:
            raise ValueError(f"peer {problem}")
    path = Path(run_dir) / PEERS_FILE
    atomic_write_text(path, json.dumps({"format_version": FORMAT_VERSION, "peers": peers}, indent=2) + "\n")
    return path
