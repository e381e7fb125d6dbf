"""The stage registry: one config class belongs to one stage."""

from __future__ import annotations

import pytest

from toolkit.registry import STAGES, register_stage
from toolkit.stages import get_stage
from toolkit.config import StageConfig


class _Shared(StageConfig):
    """A config class that two stages try to share."""


def test_second_stage_with_a_registered_config_class_is_refused_and_first_keeps_its_name():
    register_stage("shared_first_test", _Shared)(lambda model, cfg, ctx: None)
    try:
        with pytest.raises(ValueError, match="already the config of stage 'shared_first_test'"):
            register_stage("shared_second_test", _Shared)(lambda model, cfg, ctx: None)
        assert _Shared.stage_type == "shared_first_test"
        assert get_stage("shared_first_test").config_cls is _Shared
        assert "shared_second_test" not in STAGES
    finally:
        STAGES.remove("shared_first_test")


def test_a_subclass_of_a_registered_config_may_be_its_own_stage():
    register_stage("parent_test", _Shared)(lambda model, cfg, ctx: None)

    class Child(_Shared):
        """Same options, another stage."""

    try:
        register_stage("child_test", Child)(lambda model, cfg, ctx: None)
        assert (_Shared.stage_type, Child.stage_type) == ("parent_test", "child_test")
    finally:
        STAGES.remove("parent_test")
        STAGES.remove("child_test")
