"""OracleFeed: typed errors on bad input, atomicity, staleness, events, canonical state, replay."""

from __future__ import annotations

import copy
import os
import pickle
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clearhouse.ledger.errors import BlockOutOfOrder, InvalidValue, UnknownAsset
from clearhouse.oracle import (
    AnchorBandConfig,
    CircuitBreakerConfig,
    DelayConfig,
    DeviationHeartbeatConfig,
    DuplicateReport,
    FeedConfig,
    FutureReport,
    MaxAgeConfig,
    NotHalted,
    OracleFeed,
    OracleState,
    OracleStateChanged,
    OutOfOrderReport,
    QuorumMedianConfig,
    ReportAssetMismatch,
    SourceReport,
    TwapConfig,
    UnknownSource,
    UpdateOutOfOrder,
    make_report,
)

from .conftest import W, feed, rep

SOURCES = ("a", "b", "c", "d", "e")


def quorum_feed() -> OracleFeed:
    return feed(SOURCES, QuorumMedianConfig(quorum=3), report_max_age=120)


def test_fresh_reading_and_first_event() -> None:
    f = quorum_feed()
    assert f.state is OracleState.STALE and f.reason == "no update yet"
    r = f.update(10, [rep(s, (100 + i) * W, 10) for i, s in enumerate(SOURCES)])
    assert (r.state, r.price, r.price_time, r.sources, r.raw) == (OracleState.FRESH, 102 * W, 10, 5, 102 * W)
    assert r.events == (OracleStateChanged("ETH", OracleState.STALE, OracleState.FRESH, 10, "fresh"),)
    assert r.usable
    assert f.update(11, [rep("a", 100 * W, 11)]).events == ()  # no change, no event


def test_no_fresh_quorum_goes_stale_never_a_made_up_price() -> None:
    f = quorum_feed()
    f.update(0, [rep(s, 100 * W, 0) for s in SOURCES])
    f.update(100, [rep("a", 101 * W, 100), rep("b", 101 * W, 100)])
    r = f.update(150, [])  # c, d, e observed at 0 are now older than report_max_age=120
    assert (r.state, r.reason, r.sources, r.raw) == (OracleState.STALE, "2 fresh sources < quorum 3", 2, None)
    assert (r.price, r.price_time) == (100 * W, 0)  # the last FRESH price with its own (old) time
    assert not r.usable
    assert r.events[0].new is OracleState.STALE and r.events[0].reason == "2 fresh sources < quorum 3"
    # a new feed with no quorum has no price at all
    assert quorum_feed().update(0, [rep("a", W, 0)]).price is None


@pytest.mark.parametrize(
    ("reports", "error"),
    [
        ([rep("zz", W, 5)], UnknownSource),
        ([rep("a", W, 5), rep("a", 2 * W, 6)], DuplicateReport),
        ([rep("a", W, 11)], FutureReport),
        ([rep("a", W, 1)], OutOfOrderReport),  # not after a's report at 1
        ([rep("a", W, 5, asset="BTC")], ReportAssetMismatch),
    ],
)
def test_bad_reports_raise_typed_errors_and_change_nothing(
    reports: list[SourceReport], error: type[Exception]
) -> None:
    f = quorum_feed()
    f.update(1, [rep(s, 100 * W, 1) for s in SOURCES])
    before = f.encode_state()
    with pytest.raises(error):
        f.update(10, [rep("b", 200 * W, 10), *reports])  # a good report first: must not be applied
    assert f.encode_state() == before


def test_bad_numbers_and_times() -> None:
    f = quorum_feed()
    f.update(10, [rep("a", W, 10)])
    with pytest.raises(UpdateOutOfOrder):
        f.update(9, [])
    assert issubclass(UpdateOutOfOrder, BlockOutOfOrder) and issubclass(ReportAssetMismatch, UnknownAsset)
    for bad in (float("nan"), 0, -1, "inf"):
        with pytest.raises(InvalidValue):
            make_report("a", "ETH", bad, 11)
    with pytest.raises(InvalidValue):
        f.update(-1, [])
    with pytest.raises(InvalidValue):
        f.update(12, ["not a report"])  # type: ignore[list-item]
    assert issubclass(DuplicateReport, InvalidValue) and issubclass(FutureReport, InvalidValue)


@given(st.lists(st.tuples(st.integers(1, 10**24), st.integers(0, 300)), min_size=1, max_size=5))
def test_median_never_leaves_the_range_of_fresh_sources(obs: list[tuple[int, int]]) -> None:
    f = feed(SOURCES, report_max_age=120)
    now = 300
    reports = [rep(s, p, now - age) for s, (p, age) in zip(SOURCES, obs, strict=False)]
    fresh = [r.price for r in reports if now - r.observed_at <= 120]
    r = f.update(now, reports)
    if fresh:
        assert r.state is OracleState.FRESH and r.price is not None
        assert min(fresh) <= r.price <= max(fresh) and r.sources == len(fresh)
    else:
        assert (r.state, r.price) == (OracleState.STALE, None)


def test_same_time_update_and_resend_rules() -> None:
    f = quorum_feed()
    f.update(5, [rep("a", W, 5)])
    f.update(5, [rep("b", W, 5)])  # two updates at the same time are fine
    with pytest.raises(OutOfOrderReport):
        f.update(6, [rep("a", W, 5)])  # a resend of the same observation is not


def test_confirm_requires_a_halt() -> None:
    f = feed(policies=[CircuitBreakerConfig(max_move=W // 10, interval=60)])
    f.update(0, [rep("a", W, 0)])
    with pytest.raises(NotHalted):
        f.confirm(1)


# ------------------------------------------------------------------ canonical state, copy, replay

POLICIES = (
    CircuitBreakerConfig(max_move=W // 2, interval=600),
    AnchorBandConfig(band=W // 5, window=900),
    DeviationHeartbeatConfig(deviation=W // 200, heartbeat=3600),
    DelayConfig(delay=300),
    MaxAgeConfig(max_age=3600),
)
CONFIG = FeedConfig(
    asset="ETH",
    sources=SOURCES,
    aggregator=TwapConfig(window=600, inner=QuorumMedianConfig(quorum=2)),
    policies=POLICIES,
)
steps = st.lists(
    st.tuples(
        st.integers(0, 400), st.lists(st.tuples(st.sampled_from(SOURCES), st.integers(50, 200)), max_size=5)
    ),
    min_size=1,
    max_size=30,
)


def _updates(draw: list[tuple[int, list[tuple[str, int]]]]) -> list[tuple[int, list[SourceReport]]]:
    t, out = 0, []
    for dt, batch in draw:
        t += dt + 1
        seen = dict(batch)  # one report per source per update
        out.append((t, [rep(s, p * W, t) for s, p in sorted(seen.items())]))
    return out


@settings(max_examples=60)
@given(steps)
def test_replay_is_deterministic_and_copy_is_independent(
    draw: list[tuple[int, list[tuple[str, int]]]],
) -> None:
    updates = _updates(draw)
    feed1, readings1 = OracleFeed.replay(CONFIG, updates)
    feed2, readings2 = OracleFeed.replay(CONFIG, updates)
    assert readings1 == readings2 and feed1.encode_state() == feed2.encode_state()
    # copy at the midpoint, continue both: same result as the uninterrupted feed; the copy is untouched
    half = len(updates) // 2
    f, _ = OracleFeed.replay(CONFIG, updates[:half])
    snapshot = f.copy()
    frozen = snapshot.encode_state()
    for now, batch in updates[half:]:
        f.update(now, batch)
    assert snapshot.encode_state() == frozen
    assert f.encode_state() == feed1.encode_state()
    for now, batch in updates[half:]:
        snapshot.update(now, batch)
    assert snapshot.encode_state() == feed1.encode_state()


_SCRIPT = """
import hashlib
from clearhouse.oracle import *
W = 10**18
cfg = feed_config_from_dict({"asset": "ETH", "sources": ["e", "d", "c", "b", "a"],
    "aggregator": {"name": "weighted_median", "weights": {"e": 1, "a": 3, "c": 2, "b": 2, "d": 1}},
    "policies": [{"name": "anchor_band", "band": "0.2", "window": 900, "anchor_sources": ["d", "a"]}]})
f = OracleFeed(cfg)
for t in range(0, 3000, 60):
    f.update(t, [SourceReport(s, "ETH", (100 + (t * (i + 3)) % 17) * W, t) for i, s in enumerate("edcba")])
print(hashlib.sha256(f.encode_state()).hexdigest())
"""


def test_encoding_does_not_depend_on_hash_seed() -> None:
    src = str(Path(__file__).resolve().parents[2] / "src")
    digests = set()
    for seed in ("0", "1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": src}
        out = subprocess.run(
            [sys.executable, "-c", _SCRIPT], env=env, capture_output=True, text=True, check=True
        )
        digests.add(out.stdout.strip())
    assert len(digests) == 1 and len(digests.pop()) == 64


def _reference_state(f: OracleFeed) -> bytes:
    """``encode_state`` as defined, with the config converted on every call (it is cached as bytes)."""
    doc = msgspec.json.decode(f.encode_state())
    doc[1] = msgspec.to_builtins(f.config)
    return msgspec.json.encode(doc, order="sorted")


@pytest.mark.parametrize(
    "clone", [lambda f: f, OracleFeed.copy, copy.deepcopy, lambda f: pickle.loads(pickle.dumps(f))]
)
def test_the_cached_config_bytes_are_the_configs_encoding(clone: Callable[[OracleFeed], OracleFeed]) -> None:
    """The config's bytes, encoded once per feed, are what converting it each time gives, for feeds
    made, copied, deep-copied and unpickled, before and after updates."""
    for config in (CONFIG, quorum_feed().config):
        f = clone(OracleFeed(config))
        assert f.encode_state() == _reference_state(f)
        f.update(10, [rep("a", 100 * W, 10), rep("b", 101 * W, 10), rep("c", 99 * W, 10)])
        g = clone(f)
        assert g.encode_state() == _reference_state(g) == f.encode_state()
