"""Reading the quantize stage's INT8-vs-fp32 speed comparison (no torch: the report and CLI use it)."""

from __future__ import annotations

from typing import Any

from toolkit.records import OK


def int8_slower(extra: dict[str, Any] | None) -> set[tuple[str, int]]:
    """(runtime, batch size) pairs where the stage measured its INT8 model slower than its fp32 model."""
    check = (extra or {}).get("int8_vs_fp32") or {}
    return {(r["runtime"], int(r["batch_size"])) for r in check.get("records", []) if r.get("int8_slower")}


def int8_slower_shown(extra: dict[str, Any] | None, int8_records: list[dict[str, Any]],
                      fp32_records: list[dict[str, Any]]) -> set[tuple[str, int]]:
    """Where an INT8 stage is slower than its fp32 source, by its own check and the latencies shown.

    `extra`: the quantize stage's extra (its own interleaved check, `int8_vs_fp32`); `int8_records` and
    `fp32_records`: the latency records shown for it and for the stage that fed it (after a re-timing or a
    bench). Where both shown records were timed together (interleaved rounds of one session) with 95% intervals,
    INT8's interval wholly above fp32's flags the pair, so a re-timed table never shows INT8 at twice its
    source's latency unflagged; and INT8's wholly below fp32's, both steady, clears the stage's flag (shown
    faster beyond noise). Overlapping or unstable shown records leave the stage's own check standing. Stages
    without that check (not a quantize stage) are never flagged."""
    own = int8_slower(extra)
    if not (extra or {}).get("int8_vs_fp32"):
        return own
    sources = {(r.get("runtime"), int(r.get("batch_size") or 0)): r for r in fp32_records if r.get("status") == OK}
    flagged = set(own)
    for rec in int8_records:
        key = (rec.get("runtime"), int(rec.get("batch_size") or 0))
        source = sources.get(key)
        together = source is not None and rec.get("interleaved") and source.get("interleaved") \
            and isinstance(rec.get("session"), str) and rec.get("session") == source.get("session")
        if rec.get("status") != OK or not together or None in (rec.get("ci_low_ms"), rec.get("ci_high_ms"),
                                                                source.get("ci_low_ms"), source.get("ci_high_ms")):
            continue
        if rec["ci_low_ms"] > source["ci_high_ms"]:
            flagged.add(key)
        elif rec["ci_high_ms"] < source["ci_low_ms"] and not (rec.get("unstable") or source.get("unstable")):
            flagged.discard(key)
    return flagged


def source_records(rows: list[dict[str, Any]], position: int, runtime: str, batch_size: int) -> list[dict[str, Any]]:
    """The shown latency records of the stage that fed row `position` (stage metrics in run order): the nearest
    earlier row with an ok record on `runtime` at `batch_size`, stepping over skipped or failed stages as the
    pipeline does when it hands a stage its input."""
    for row in reversed(rows[:position]):
        found = [r for r in row.get("latency") or [] if r.get("status") == OK and r.get("runtime") == runtime
                 and int(r.get("batch_size") or 0) == batch_size]
        if found:
            return found
    return []
