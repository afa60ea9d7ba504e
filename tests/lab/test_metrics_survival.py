"""Kaplan–Meier over censored delays, worked by hand; pooling; expected shortfall and its interval;
the breach bookkeeping that feeds them (every breach an outcome, every close-out a class)."""

from __future__ import annotations

import pytest

from clearhouse.lab.breaches import BreachTracker
from clearhouse.lab.metrics import distribution, expected_shortfall, expected_shortfall_ci
from clearhouse.lab.survival import SurvivalTable, delay_summary, kaplan_meier


def test_kaplan_meier_worked_example() -> None:
    # delays 1 (enforced), 2 (healed: censored), 2 (enforced), 3 (enforced), 4 (open at the horizon)
    # t=1: 5 at risk, 1 event -> S = 4/5 = 0.8
    # t=2: 4 at risk (the censoring at 2 still counts), 1 event -> S = 0.8 x 3/4 = 0.6
    # t=3: 2 at risk, 1 event -> S = 0.6 x 1/2 = 0.3; t=4 censored: S stays 0.3
    table = SurvivalTable.from_samples([1, 2, 2, 3, 4], [True, False, True, True, False])
    assert table == SurvivalTable((1.0, 2.0, 3.0, 4.0), (1, 1, 1, 0), (0, 1, 0, 1))
    km = kaplan_meier(table)
    assert km is not None
    assert [km.at(t) for t in (0, 1, 1.5, 2, 3, 10)] == pytest.approx([1.0, 0.8, 0.8, 0.6, 0.3, 0.3])
    assert km.quantile(0.2) == 1.0 and km.quantile(0.4) == 2.0 and km.quantile(0.5) == 3.0
    assert km.quantile(0.9) is None  # S never falls to 0.1: the delay is longer than observed
    # restricted mean: 1 x 1 + 0.8 x 1 + 0.6 x 1 + 0.3 x 1
    assert km.restricted_mean() == pytest.approx(2.7)
    s = delay_summary(table)
    assert (s["enforced"], s["censored"], s["p50"], s["p95"]) == (3, 2, 3.0, None)


def test_dropping_censored_delays_biases_the_quantile_low() -> None:
    # 4 enforced after 1 block, 6 breaches still open after 10: the enforced-only median is 1,
    # but most breaches waited longer than anything observed
    table = SurvivalTable.from_samples([1] * 4 + [10] * 6, [True] * 4 + [False] * 6)
    km = kaplan_meier(table)
    assert km is not None and km.at(1) == pytest.approx(0.6) and km.quantile(0.5) is None


def test_pooling_adds_the_counts() -> None:
    a = SurvivalTable.from_samples([1, 2], [True, False])
    b = SurvivalTable.from_samples([2, 3], [True, True])
    pooled = SurvivalTable.pooled([a, b])
    assert pooled == SurvivalTable.from_samples([1, 2, 2, 3], [True, False, True, True])
    assert SurvivalTable.from_dict(pooled.to_dict()) == pooled
    assert kaplan_meier(SurvivalTable((), (), ())) is None


def test_expected_shortfall_is_the_tail_mean() -> None:
    losses = [float(x) for x in range(1, 101)]  # 1..100
    # q = 0.95: the worst ceil(100 x 0.05) = 5 (not 6, despite 100 x 0.05 = 5.000000000000004)
    assert expected_shortfall(losses, 0.95) == pytest.approx((96 + 97 + 98 + 99 + 100) / 5)
    assert expected_shortfall(losses, 0.99) == 100.0
    assert expected_shortfall([3.0, 1.0, 2.0], 0.5) == pytest.approx(2.5)  # worst 2 of 3
    assert expected_shortfall([7.0], 0.99) == 7.0


def test_bootstrap_interval_is_reproducible_and_brackets_the_estimate() -> None:
    losses = [0.0] * 80 + [float(x) for x in range(10, 210, 10)]
    ci = expected_shortfall_ci(losses, 0.95)
    assert ci is not None and ci == expected_shortfall_ci(losses, 0.95)  # fixed seed
    lo, hi = ci
    assert lo <= expected_shortfall(losses, 0.95) <= hi and lo < hi
    assert expected_shortfall_ci([5.0], 0.95) is None
    d = distribution(losses, (0.95, 0.99))
    assert d["es"]["q0.95"]["ci"] == [lo, hi] and d["paths"] == 100 and d["max"] == 200.0


def test_every_breach_gets_an_outcome_and_every_close_out_a_class() -> None:
    br = BreachTracker()
    a, b, c, d = ("a", None), ("b", None), ("c", "ETH-PERP"), ("d", None)
    br.observe(0, {a, b}, set())  # a and b fall below maintenance
    br.observe(1, {a, b, c}, {a})  # c too; a is under water
    assert br.liquidated(3, a) == "first_in_breach"  # a enforced after 3 blocks
    assert br.liquidated(3, a) == "further_in_breach"  # its second position, same close-out
    assert br.liquidated(3, d) == "within_block"  # d fell below and was closed within block 3
    br.observe(3, {a, b, c}, set())  # a still below in a pre-enforcement scan: stays one breach
    br.observe(4, {c}, set())  # b healed without a close-out; a and d ended enforced
    br.finish(9)  # c never enforced: open for 8 blocks at the horizon
    assert br.outcomes == {"enforced": 2, "recovered": 1, "open_at_horizon": 1}
    assert br.closeouts == {"first_in_breach": 1, "within_block": 1, "further_in_breach": 1}
    assert sorted(br.samples) == [(0, True), (3, True), (4, False), (8, False)]
    assert br.enforced_delays == [3, 0] and br.open_ages == [8]
    assert br.insolvency_ended == [2] and br.insolvency_open == []  # a under water at blocks 1, 2
    table = br.table(60)
    assert table.times == (0.0, 180.0, 240.0, 480.0) and table.n_events == 2 and table.n_censored == 2
