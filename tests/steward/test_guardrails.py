"""The pure guardrail checks: worked numbers and the property that ``nearest`` only offers legal moves."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clearhouse.ledger.fixedpoint import WAD
from clearhouse.steward.errors import OutOfBounds, ParameterUnchanged, StepTooLarge
from clearhouse.steward.guardrails import Guardrail, check_value


def test_relative_steps_round_down_in_the_protocols_favour() -> None:
    g = Guardrail(0, 10**30, WAD // 8, WAD // 8, relative=True)
    assert g.step_limit(1001, True) == 125  # 1001 / 8 = 125.125 -> 125
    check_value(g, 1001, 1126, "x")
    with pytest.raises(StepTooLarge):
        check_value(g, 1001, 1127, "x")
    assert g.step_limit(0, True) == 0  # a relative step cannot move a zero


def test_bounds_and_no_ops() -> None:
    g = Guardrail(10, 20, 100, 100)
    with pytest.raises(OutOfBounds):
        check_value(g, 15, 21, "x")
    with pytest.raises(ParameterUnchanged):
        check_value(g, 15, 15, "x")
    assert g.nearest(15, 1000) == 20 and g.nearest(15, -5) == 10 and g.nearest(15, 15) == 15


@given(
    lower=st.integers(0, 10**6),
    width=st.integers(0, 10**6),
    up=st.integers(0, 10**5),
    down=st.integers(0, 10**5),
    relative=st.booleans(),
    current=st.integers(0, 3 * 10**6),
    desired=st.integers(0, 3 * 10**6),
)
def test_nearest_is_always_a_legal_move_or_no_move(
    lower: int, width: int, up: int, down: int, relative: bool, current: int, desired: int
) -> None:
    scale = WAD // 10**5 if relative else 1
    g = Guardrail(lower, lower + width, up * scale, down * scale, relative=relative)
    value = g.nearest(current, desired)
    if value != current:
        check_value(g, current, value, "x")
        assert abs(value - desired) < abs(current - desired)
