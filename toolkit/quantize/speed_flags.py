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
    """Where an INT8 stage is slower than its fp32 source, by the latencies the table and report show.

    `extra`: the quantize stage's extra (its own interleaved check, `int8_vs_fp32`); `int8_records` and
    `fp32_records`: the latency records shown for it and for its source stage (after a re-timing or a bench).
    Where both shown records were timed together (interleaved rounds of one session: a re-timing or a bench) and
    carry 95% intervals, they decide (INT8 slower when its interval lies wholly above fp32's), so a re-timed table
    never shows INT8 at twice its source's latency unflagged, nor flags what it shows faster; elsewhere (stages
    timed one after another) the stage's own interleaved check stands. Stages without that check (not a
    quantize stage) are never flagged."""
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
        if rec.get("status") != OK or not together:
            continue
        low, high = rec.get("ci_low_ms"), source.get("ci_high_ms")
        if low is None or high is None:
            continue
        (flagged.add if low > high else flagged.discard)(key)
    return flagged
