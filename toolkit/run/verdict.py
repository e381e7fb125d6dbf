"""Whether a stage's model is usable: `degraded` when it sits at chance level or lost too much top-1.

A stage is compared with the model it received (its *reference*) and with chance level:

- at chance: top-1 <= 1/classes + 3 binomial standard deviations over the validation images (a model
  guessing cannot be told apart from it on that many images), judged only when the stage's input was
  above chance (an untrained input model is the untrained-model warning's business, not the stage's);
- too great a drop: top-1 more than `measure.max_stage_drop` points below the reference.

A stage that does not train but is followed later in the recipe by one that does (prune without
fine-tune, then distill) is *expected* to lose accuracy that the training recovers, so its bounds are
deferred: it stays `ok` (the drop is recorded) and the recovering stage is compared with the model
from before the drop. Stages whose top-1 is unknown (skipped, `measure.accuracy: false`) are not judged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from toolkit.errors import ToolkitError
from toolkit.records import DEGRADED, OK


class StageDegradedError(ToolkitError):
    """A stage's model is at chance level or far below its input (with --strict, or at the end of a run)."""

    exit_code = 4


def chance_top1(num_classes: int, samples: int) -> float:
    """The top-1 a model must beat not to be called guessing: 1/C plus 3 binomial standard deviations."""
    p = 1.0 / num_classes
    return p + 3.0 * math.sqrt(p * (1.0 - p) / max(samples, 1))


@dataclass
class Reference:
    """The accuracy a stage is compared with: the top-1 of the model before it (or before a deferred drop)."""

    top1: float | None = None
    label: str | None = None


class StageJudge:
    """Reviews each stage's outcome in pipeline order and records its verdict (see the module docstring)."""

    def __init__(self, recipe: Any):
        self.recipe = recipe
        self.reference = Reference()

    def _recovered_later(self, index: int) -> str | None:
        """The label of the first later stage that trains, if this stage does not train itself."""
        stages = self.recipe.stages
        if index == 0 or stages[index - 1].trains():
            return None
        for later, cfg in enumerate(stages[index:], start=index + 1):
            if cfg.trains():
                return f"{later:02d}-{cfg.name}"
        return None

    def verdict(self, index: int, label: str, top1: float | None, num_classes: int, samples: int
                ) -> dict[str, Any] | None:
        """The verdict of stage `index` (recipe position + 1, 0 = input) with top-1 `top1`; None: not judged."""
        if top1 is None or samples <= 0:
            return None
        max_drop = self.recipe.measure.max_stage_drop
        ref = self.reference
        result: dict[str, Any] = {"chance_top1": round(chance_top1(num_classes, samples), 6),
                                  "reference_top1": ref.top1, "reference_stage": ref.label,
                                  "max_stage_drop": max_drop, "status": OK, "reason": None}
        if ref.top1 is not None:
            result["drop_points"] = round((ref.top1 - top1) * 100, 3)
        problems = []
        # At chance is news only when the input was above it: a stage that keeps an at-chance input there
        # (export of an untrained model) did no harm; the at-chance input itself is reported where it arises.
        input_at_chance = ref.top1 is not None and ref.top1 <= result["chance_top1"]
        if input_at_chance:
            result["input_at_chance"] = True
        if index > 0 and top1 <= result["chance_top1"] and not input_at_chance:
            problems.append(f"top-1 {top1:.4f} is at chance level ({1 / num_classes:.4f} for {num_classes} classes; "
                            f"<= {result['chance_top1']:.4f} on {samples} images)")
        if max_drop is not None and ref.top1 is not None and result["drop_points"] > max_drop:
            problems.append(f"top-1 fell {result['drop_points']:.2f} points below {ref.label} "
                            f"({ref.top1:.4f} -> {top1:.4f}; measure.max_stage_drop: {max_drop})")
        recovery = self._recovered_later(index) if problems else None
        if recovery is not None:
            result["deferred_to"] = recovery
            result["note"] = "; ".join(problems) + f": expected before {recovery} trains, which is judged against " \
                                                   f"{ref.label or 'the reference'}"
        elif problems:
            result.update(status=DEGRADED, reason="; ".join(problems))
        if recovery is None or ref.top1 is None:  # a deferred drop keeps the model before it as the reference
            self.reference = Reference(top1, label)
        return result

    def review(self, outcome: Any, num_classes: int) -> dict[str, Any] | None:
        """Judge a StageOutcome (ok or degraded ones; skipped stages pass); update its status, reason, metrics."""
        if outcome.status not in (OK, DEGRADED):
            return None
        accuracy = outcome.metrics.get("accuracy") or {}
        label = f"{outcome.index:02d}-{outcome.name}"
        result = self.verdict(outcome.index, label, accuracy.get("top1"), num_classes,
                              int(accuracy.get("samples") or 0))
        if result is None:
            return None
        outcome.status, outcome.reason = result["status"], result["reason"]
        outcome.metrics = {**outcome.metrics, "status": result["status"], "reason": result["reason"],
                           "verdict": result}
        return result


def degraded_message(stages: list[Any]) -> str | None:
    """One line per degraded stage, or None when there is none."""
    bad = [s for s in stages if s.status == DEGRADED]
    if not bad:
        return None
    return "\n".join(f"stage {s.index:02d}-{s.name} is degraded: {s.reason}" for s in bad)


def record_verdict(judge: StageJudge, outcome: Any, num_classes: int) -> None:
    """Review `outcome` and rewrite its metrics.json when the verdict changed (e.g. a new max_stage_drop)."""
    from toolkit.run.folder import write_metrics

    before = (outcome.metrics.get("verdict"), outcome.metrics.get("status"), outcome.metrics.get("reason"))
    if judge.review(outcome, num_classes) is None:
        return
    after = (outcome.metrics.get("verdict"), outcome.metrics.get("status"), outcome.metrics.get("reason"))
    if after != before:
        outcome.metrics = write_metrics(outcome.directory, outcome.metrics)
