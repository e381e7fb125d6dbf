"""Latency records for one or several models, timed together in interleaved rounds on each runtime.

Models whose graphs are identical (same fingerprint, see `toolkit.measure.graph`) are timed once: the
others get a copy of that record marked `same_graph_as`, so identical networks can never look different.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from toolkit.artifacts import ONNX, Model, ModelArtifact, model_format
from toolkit.config import MeasureSpec
from toolkit.measure.graph import graph_hash
from toolkit.measure.interrupts import reraise_if_interrupted
from toolkit.measure.rounds import ROUNDS, Sampler, session_sampler, time_rounds
from toolkit.runtimes import get_runtime

MATCH_KEYS = ("runtime", "batch_size", "graph_hash", "threads", "precision", "format")


@dataclass
class Candidate:
    """One model to time: a key (the stage label), the model, and its ONNX export where there is one."""

    key: str
    model: Model
    onnx_model: ModelArtifact | None = None


def _error(exc: Exception) -> str:
    from toolkit.runtimes.isolated import RuntimeCrashed

    if isinstance(exc, RuntimeCrashed):  # "openvino-cpu crashed with SIGSEGV while ..." says it all
        return str(exc)[:500]
    return f"{type(exc).__name__}: {exc}"[:500]


def _open(runtime, cand: Candidate, spec: MeasureSpec) -> tuple[Any, Model | None, str | None, str | None]:
    """(session, model it runs, skip reason, failure reason) of a candidate on a runtime."""
    reason = runtime.unavailable()
    target: Model | None = cand.model
    if reason is None and model_format(cand.model) not in runtime.formats:
        target = cand.onnx_model if (cand.onnx_model is not None and ONNX in runtime.formats) else None
        if target is None:
            reason = (f"{runtime.name} runs {'/'.join(sorted(runtime.formats))} models; "
                      f"this one is {model_format(cand.model)}")
    if reason is not None:
        return None, None, reason, None
    try:
        return runtime.load(target, spec.threads), target, None, None
    except Exception as exc:  # noqa: BLE001 - one runtime failing must not stop the others
        reraise_if_interrupted(exc)  # an interrupt wrapped by the runtime is no fault of that runtime
        return None, None, None, _error(exc)


def _matches(rec: dict[str, Any], want: dict[str, Any]) -> bool:
    return rec.get("status") == "ok" and all(rec.get(k) == want[k] for k in MATCH_KEYS)


def latency_records(candidates: list[Candidate], data, spec: MeasureSpec,
                    earlier: list[tuple[str, dict[str, Any]]] | None = None,
                    rounds: int = ROUNDS, dedupe: bool = True) -> dict[str, list[dict[str, Any]]]:
    """Per candidate key, one record per runtime in `spec` and batch size: status ok/skipped/failed.

    A runtime that fails or crashes on one model (its worker process died: `toolkit.runtimes.isolated`) fails
    that model's record with the reason, the signal named; the other models are still timed.

    `earlier` is (label, record) of models already measured on this machine with these settings: a
    candidate whose graph matches one of them reuses that record (`same_graph_as`, `reused: true`).
    `dedupe=False` times identical graphs separately (benchmarks that test the intervals alone).
    """
    out: dict[str, list[dict[str, Any]]] = {c.key: [] for c in candidates}
    hashes: dict[tuple[str, str], str | None] = {}
    for runtime_name in spec.runtimes:
        runtime = get_runtime(runtime_name)
        base = {"runtime": runtime_name, "device": runtime.device}
        opened = {}
        for cand in candidates:
            session, target, skip, fail = _open(runtime, cand, spec)
            if session is None:
                status, why = ("skipped", skip) if skip else ("failed", fail)
                out[cand.key] += [{**base, "batch_size": bs, "status": status, "reason": why}
                                  for bs in spec.batch_sizes]
                continue
            fmt = model_format(target)
            if (cand.key, fmt) not in hashes:
                hashes[(cand.key, fmt)] = graph_hash(target)
            opened[cand.key] = (session, target, hashes[(cand.key, fmt)])
        for bs in spec.batch_sizes:
            for key, rec in _batch_records(opened, base, bs, data, spec, earlier, rounds, dedupe).items():
                out[key].append(rec)
    return out


def _batch_records(opened: dict[str, tuple], base: dict[str, Any], bs: int, data, spec: MeasureSpec,
                   earlier: list[tuple[str, dict[str, Any]]] | None, rounds: int, dedupe: bool
                   ) -> dict[str, dict[str, Any]]:
    """One runtime, one batch size: time the distinct graphs together; copy the rest from their twin."""
    images = data.example_input(bs).numpy()
    samplers, timers, heads, copies = {}, {}, {}, {}
    for key, (session, target, ghash) in opened.items():
        try:  # one call first: a failure stays this model's, and lazy runtimes settle their threads
            sampler, timers[key] = session_sampler(session, images)
            sampler(1)
        except Exception as exc:  # noqa: BLE001
            reraise_if_interrupted(exc)
            sampler, failure = None, _error(exc)
        head = {**base, "batch_size": bs, "precision": session.precision, "format": model_format(target),
                "threads": session.threads, "graph_hash": ghash}
        heads[key] = head
        if sampler is None:
            copies[key] = (None, ("", {**head, "status": "failed", "reason": failure}))
            continue
        twin = next((k for k in samplers if dedupe and ghash and heads[k]["graph_hash"] == ghash
                     and heads[k]["threads"] == head["threads"]), None)
        prior = next(((label, rec) for label, rec in earlier or [] if ghash and _matches(rec, head)), None)
        if twin is not None:
            copies[key] = (twin, None)
        elif prior is not None:
            copies[key] = (None, prior)
        else:
            samplers[key] = sampler
    timed, broke = _time_surviving(samplers, spec, rounds, next(iter(timers.values()), "perf_counter"))
    out = {}
    for key in opened:
        twin = key if key in samplers else copies[key][0]
        if twin in broke:  # it failed mid-rounds (its runtime crashed): so does every copy of its record
            out[key] = {**heads[key], "status": "failed", "reason": broke[twin]}
        elif twin is not None:
            rec = {**heads[twin], "status": "ok", **timed[twin], **heads[key]}
            rec["throughput_ips"] = round(bs * 1000.0 / rec["p50_ms"], 2) if rec["p50_ms"] else None
            if twin != key:
                rec["same_graph_as"] = twin
            out[key] = rec
        else:
            label, prior = copies[key][1]
            rec = {**prior, **heads[key]}
            if label:
                rec.update(same_graph_as=label, reused=True)
            out[key] = rec
    return out


def _time_surviving(samplers: dict[str, Sampler], spec: MeasureSpec, rounds: int, timer: str
                    ) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """time_rounds of the samplers, and {key: reason} of those that raised (a runtime that crashed mid-rounds).

    A failed sampler is left out and the others are timed again from their warm-up, so that every record still
    comes from rounds shared by the same models. An interrupt is raised on."""
    broke: dict[str, str] = {}
    while True:
        running: list[str] = []

        def tagged(key: str, sample: Sampler) -> Sampler:
            def run(n: int) -> list[float]:
                running[:] = [key]
                times = sample(n)
                running.clear()
                return times
            return run

        try:
            live = {k: tagged(k, s) for k, s in samplers.items() if k not in broke}
            return time_rounds(live, spec, rounds, timer=timer), broke
        except Exception as exc:  # noqa: BLE001 - one model failing must not stop the others
            reraise_if_interrupted(exc)
            if not running:
                raise
            broke[running[0]] = _error(exc)
