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

from toolkit.fsutil import atomic_write_text, read_json
from toolkit.record_sections import MIN_MS

PEERS_FILE = "peers.json"
FORMAT_VERSION = 1
MAX_NAME = 200
MAX_MS = 1e9


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _latency(value: Any) -> bool:
    """A latency the report can divide by and print (an edited 5e-324 ms would make an infinite speedup)."""
    return _number(value) and MIN_MS <= value <= MAX_MS


def _problem(peer: Any, index: int = 0) -> str | None:
    """Why a peer entry cannot be used, or None."""
    if not isinstance(peer, dict) or not isinstance(peer.get("name"), str) or not peer["name"].strip():
        return f"entry {index}: no name"
    if len(peer["name"]) > MAX_NAME or any(ord(c) < 32 or ord(c) == 127 for c in peer["name"]):
        return f"entry {index}: name must be one line of at most {MAX_NAME} characters"
    if not _number(peer.get("top1")) or not 0.0 <= peer["top1"] <= 1.0:
        return f"{peer['name']}: top1 must be a fraction between 0 and 1"
    device = peer.get("device")
    if device is not None and not (isinstance(device, dict) and (device.get("cpu") or device.get("gpu"))):
        return (f"{peer['name']}: device must be a describe_device() object (with 'cpu' or 'gpu'), or left out "
                f"for the run's own machine")
    latency = peer.get("latency")
    if not isinstance(latency, list) or not all(
            isinstance(r, dict) and isinstance(r.get("runtime"), str) and isinstance(r.get("batch_size"), int)
            and _latency(r.get("p50_ms"))
            and all(r.get(k) is None or _latency(r[k]) for k in ("ci_low_ms", "ci_high_ms")) for r in latency):
        return (f"{peer['name']}: latency must be a list of {{runtime, batch_size, p50_ms between {MIN_MS:g} "
                f"and {MAX_MS:g} ms}}")
    return None


def read_peers(run_dir: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """(usable peers, problems) from `run_dir/peers.json`; ([], []) when there is none."""
    path = Path(run_dir) / PEERS_FILE
    if not path.is_file():
        return [], []
    try:
        data = read_json(path)  # bounded size; names the file
    except ValueError as exc:
        return [], [f"not readable JSON ({exc}); peers left out"]
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
