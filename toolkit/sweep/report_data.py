"""What the sweep report draws: every complete trial's top-1 and p50 on each device, runtime and batch size, read
from the final stage of its run folder, and the peers of `<sweep folder>/peers.json`.

Run folders are data: a metrics file that is missing, unreadable or edited into nonsense leaves that trial out
of the charts with a warning naming the file; the table still lists it from the study.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolkit.fsutil import read_json
from toolkit.measure.device import device_slug
from toolkit.record_sections import MIN_MS
from toolkit.report.peers import MAX_MS


@dataclass(frozen=True)
class SweepPoint:
    """One trial (or peer) measured on one device, runtime and batch size: top-1 as a fraction, p50 in ms."""

    label: str
    device: str
    runtime: str
    batch_size: int
    p50_ms: float
    top1: float
    trial: int | None = None  # None for a peer
    unstable: bool = False

    @property
    def panel(self) -> tuple[str, str, int]:
        """The chart panel this point belongs to: (device, runtime, batch size)."""
        return self.device, self.runtime, self.batch_size


def _finite(value: Any, low: float, high: float) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) \
        and low <= value <= high


def trial_points(row: dict[str, Any], warnings: list[str]) -> list[SweepPoint]:
    """The points of one trial row (`results.trial_rows`) from its final stage's metrics.json; [] for a trial
    that did not complete, and [] with a warning for one whose metrics cannot be read."""
    if row.get("state") != "COMPLETE" or not row.get("run_dir") or not row.get("final_stage"):
        return []
    path = Path(row["run_dir"]) / str(row["final_stage"]) / "metrics.json"
    try:
        metrics = read_json(path)
    except (OSError, ValueError) as exc:
        warnings.append(f"trial {row['number']}: {path} cannot be read ({exc}); left out of the charts")
        return []
    top1 = (metrics.get("accuracy") or {}).get("top1") if isinstance(metrics, dict) else None
    if not _finite(top1, 0.0, 1.0):
        warnings.append(f"trial {row['number']}: {path} has no top-1 between 0 and 1; left out of the charts")
        return []
    device = device_slug(metrics.get("device") or {}) if isinstance(metrics.get("device"), dict) else "unknown"
    points = []
    for rec in metrics.get("latency") or []:
        if not isinstance(rec, dict) or rec.get("status") != "ok" or not _finite(rec.get("p50_ms"), MIN_MS, MAX_MS) \
                or not isinstance(rec.get("runtime"), str) or not isinstance(rec.get("batch_size"), int):
            continue
        points.append(SweepPoint(str(row["number"]), device, rec["runtime"][:60], rec["batch_size"],
                                 float(rec["p50_ms"]), float(top1), row["number"], bool(rec.get("unstable"))))
    return points


def peer_points(sweep_dir: Path, warnings: list[str]) -> list[SweepPoint]:
    """The peers of `<sweep folder>/peers.json` (format: toolkit.report.peers), one point per latency record;
    a peer without a device is taken as measured on the sweep's machine ("" device: matched to every panel)."""
    from toolkit.report.peers import read_peers

    peers, problems = read_peers(sweep_dir)
    warnings.extend(problems)
    points = []
    for peer in peers:
        device = device_slug(peer["device"]) if peer.get("device") else ""
        for rec in peer["latency"]:
            points.append(SweepPoint(peer["name"], device, rec["runtime"], rec["batch_size"], float(rec["p50_ms"]),
                                     float(peer["top1"])))
    return points


def panels(points: list[SweepPoint], peers: list[SweepPoint]) -> dict[tuple[str, str, int], list[SweepPoint]]:
    """Trial points grouped by (device, runtime, batch size), each with the peers measured there, in order."""
    grouped: dict[tuple[str, str, int], list[SweepPoint]] = {}
    for point in sorted(points, key=lambda p: (p.panel, p.trial or 0)):
        grouped.setdefault(point.panel, []).append(point)
    for (device, runtime, batch), members in grouped.items():
        members += [p for p in peers if p.runtime == runtime and p.batch_size == batch and p.device in ("", device)]
    return grouped
