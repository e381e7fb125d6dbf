"""What else the machine was doing while we timed: load average, CPU frequency and governor."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

CPUFREQ = Path("/sys/devices/system/cpu/cpu0/cpufreq")


def _cpu_mhz() -> float | None:
    """Mean current clock over all CPUs (MHz) from /proc/cpuinfo; None where the kernel does not say."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    values = [float(v) for v in re.findall(r"^cpu MHz\s*:\s*([\d.]+)", text, re.M)]
    return round(sum(values) / len(values), 1) if values else None


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def system_notes() -> dict[str, Any]:
    """Load averages (1, 5, 15 min), logical CPUs, current mean CPU MHz and the cpufreq governor (if any)."""
    try:
        load = [round(v, 2) for v in os.getloadavg()]
    except (OSError, AttributeError):  # not on every platform
        load = None
    max_khz = _read(CPUFREQ / "cpuinfo_max_freq")
    return {"load_avg": load, "logical_cpus": os.cpu_count(), "cpu_mhz": _cpu_mhz(),
            "cpu_max_mhz": round(int(max_khz) / 1000, 1) if max_khz and max_khz.isdigit() else None,
            "governor": _read(CPUFREQ / "scaling_governor")}


def busy(notes: dict[str, Any] | None) -> bool:
    """True when the 1-minute load average was above the number of logical CPUs."""
    if not isinstance(notes, dict) or not notes.get("load_avg") or not notes.get("logical_cpus"):
        return False
    try:  # notes read back from an edited file may hold anything
        return float(notes["load_avg"][0]) > float(notes["logical_cpus"])
    except (TypeError, ValueError, KeyError, IndexError):
        return False


def noise_warning(records: list[dict[str, Any]]) -> str | None:
    """One line when latency records are not to be trusted: a busy machine or most records unstable; else None.

    `records` are latency records (metrics.json `latency` entries); skipped and failed ones are ignored.
    """
    ok = [r for r in records if r.get("status") == "ok"]
    if not ok:
        return None
    systems = [r.get("system") if isinstance(r.get("system"), dict) else {} for r in ok]
    notes = [n for system in systems for n in (system.get("before"), system.get("after")) if n]
    loaded = [n for n in notes if busy(n)]
    unstable = sum(bool(r.get("unstable")) for r in ok)
    if not loaded and unstable * 2 <= len(ok):
        return None
    why = []
    if loaded:
        top = max(loaded, key=lambda n: n["load_avg"][0])
        why.append(f"load average up to {top['load_avg'][0]:g} on {top['logical_cpus']} CPUs")
    why.append(f"{unstable} of {len(ok)} latency records unstable")
    return (f"warning: the machine was busy while timing ({'; '.join(why)}): latency differences may be noise; "
            f"re-run `compress bench RUN_DIR` on a quiet machine")
