"""Reading the quantize stage's INT8-vs-fp32 speed comparison (no torch: the report and CLI use it)."""

from __future__ import annotations

from typing import Any


def int8_slower(extra: dict[str, Any] | None) -> set[tuple[str, int]]:
    """(runtime, batch size) pairs where the stage measured its INT8 model slower than its fp32 model."""
    check = (extra or {}).get("int8_vs_fp32") or {}
    return {(r["runtime"], int(r["batch_size"])) for r in check.get("records", []) if r.get("int8_slower")}
