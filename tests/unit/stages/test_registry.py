"""The stage registry: one config class belongs to one stage."""

from __future__ import annotations

import pytest

from toolkit.registry import STAGES
from toolkit.stages import get_stage
from toolkit.config import StageConfig


class _Shared(StageConfig):
    """A config class that two stages try to share."""


def test_second_stage_with_a_registered_config_class_is_refused_and_first_keeps_its_name(temporary_stages):
    temporary_stages("shared_first_test", _Shared)(lambda model, cfg, ctx: None)
    with pytest.raises(ValueError, match="already the config of stage 'shared_first_test'"):
        temporary_stages("shared_second_test", _Shared)(lambda model, cfg, ctx: None)
    assert _Shared.stage_type == "shared_first_test"
    assert get_stage("shared_first_test").config_cls is _Shared
    assert "shared_second_test" not in STAGES


def test_a_subclass_of_a_registered_config_may_be_its_own_stage(temporary_stages):
    temporary_stages("parent_test", _Shared)(lambda model, cfg, ctx: None)

    class Child(_Shared):
        """Same options, another stage."""

    temporary_stages("child_test", Child)(lambda model, cfg, ctx: None)
    assert (_Shared.stage_type, Child.stage_type) == ("parent_test", "child_test")


def test_the_temporary_stages_fixture_unregisters_what_a_test_registered(temporary_stages):
    temporary_stages("gone_after_test", type("Gone", (StageConfig,), {"__doc__": "test"}))(lambda m, c, x: None)
    assert "gone_after_test" in STAGES


def test_a_stage_registered_by_the_previous_test_is_gone():
    assert "gone_after_test" not in STAGES
