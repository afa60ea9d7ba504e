"""Replay protection: property tests of the nonce window and the expiry rules, and the canonical bytes."""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clearhouse.auth.envelope import SignedEnvelope
from clearhouse.auth.errors import BadSignature, Expired, NonceOutOfWindow, NonceReused, WrongChain
from clearhouse.auth.nonces import (
    DAY_MS,
    NonceBook,
    ReplayRules,
    admit,
    check_expiry,
    check_nonce,
)
from clearhouse.ledger.errors import ClearhouseError, InvalidValue

from .helpers import ALICE, BOB, CHAIN, HEIGHT, NOW_MS, key, signed

SIGNER = ALICE.public_hex
SMALL = ReplayRules(capacity=5)

# nonces within the default window of NOW_MS
in_window = st.integers(NOW_MS - DAY_MS, NOW_MS + DAY_MS)


def accept_all(book: NonceBook, nonces: list[int], rules: ReplayRules) -> tuple[NonceBook, list[bool]]:
    accepted = []
    for n in nonces:
        try:
            book = book.accept(SIGNER, n, NOW_MS, rules)
            accepted.append(True)
        except NonceReused:
            accepted.append(False)
    return book, accepted


@given(st.lists(in_window, max_size=40), st.integers(1, 12))
def test_a_nonce_is_never_accepted_twice_and_the_set_stays_bounded(nonces: list[int], cap: int) -> None:
    rules = ReplayRules(capacity=cap)
    book = NonceBook()
    ever: set[int] = set()
    for n in nonces:
        before = book.encode()
        # The rule stated over the whole history: unused, and above the cap-th highest used once that many.
        model_accepts = n not in ever and (len(ever) < cap or n > sorted(ever)[-cap])
        try:
            book = book.accept(SIGNER, n, NOW_MS, rules)
        except NonceReused:
            assert not model_accepts
            assert book.encode() == before
            continue
        assert model_accepts
        assert n not in ever, f"nonce {n} accepted twice"
        ever.add(n)
        window = book.window(SIGNER)
        assert len(window) <= cap
        assert list(window) == sorted(set(window))
        assert window == tuple(sorted(ever)[-cap:])  # the highest `cap` accepted ones
    for n in ever:  # every accepted nonce is refused afterwards
        with pytest.raises(NonceReused):
            book.accept(SIGNER, n, NOW_MS, rules)


@given(st.lists(in_window, min_size=1, max_size=100, unique=True), st.randoms(use_true_random=False))
def test_any_order_of_up_to_capacity_distinct_nonces_is_accepted_exactly_once(
    nonces: list[int], rnd: object
) -> None:
    order = list(nonces)
    rnd.shuffle(order)  # type: ignore[attr-defined]
    book, accepted = accept_all(NonceBook(), order, ReplayRules())
    assert all(accepted)
    assert book.window(SIGNER) == tuple(sorted(nonces))
    _, again = accept_all(book, order, ReplayRules())
    assert not any(again)


@given(st.lists(in_window, min_size=6, max_size=30, unique=True))
def test_when_full_only_nonces_above_the_smallest_kept_are_accepted(nonces: list[int]) -> None:
    book, _ = accept_all(NonceBook(), nonces[:5], SMALL)
    window = book.window(SIGNER)
    assert len(window) == 5
    for n in nonces[5:]:
        if n < window[0]:
            with pytest.raises(NonceReused, match="not above the smallest"):
                book.accept(SIGNER, n, NOW_MS, SMALL)
        else:
            assert book.accept(SIGNER, n, NOW_MS, SMALL).window(SIGNER)[0] == min(n, window[1])


def test_below_the_smallest_is_accepted_while_the_set_is_not_full() -> None:
    book = NonceBook().accept(SIGNER, NOW_MS, NOW_MS, SMALL)
    assert book.accept(SIGNER, NOW_MS - 1, NOW_MS, SMALL).window(SIGNER) == (NOW_MS - 1, NOW_MS)


@given(st.integers(0, 2**64 - 1), st.integers(0, 10 * DAY_MS))
def test_clock_skew_beyond_the_window_is_refused_and_within_it_accepted(nonce: int, now_offset: int) -> None:
    now = NOW_MS + now_offset
    rules = ReplayRules()
    inside = now - rules.max_nonce_age_ms <= nonce <= now + rules.max_nonce_lead_ms
    if inside:
        assert check_nonce((), nonce, now, rules) == (nonce,)
    else:
        with pytest.raises(NonceOutOfWindow):
            check_nonce((), nonce, now, rules)


def test_window_boundaries_are_inclusive() -> None:
    rules = ReplayRules(max_nonce_age_ms=1000, max_nonce_lead_ms=10)
    assert check_nonce((), NOW_MS - 1000, NOW_MS, rules)
    assert check_nonce((), NOW_MS + 10, NOW_MS, rules)
    with pytest.raises(NonceOutOfWindow):
        check_nonce((), NOW_MS - 1001, NOW_MS, rules)
    with pytest.raises(NonceOutOfWindow):
        check_nonce((), NOW_MS + 11, NOW_MS, rules)


@given(st.integers(0, 3 * HEIGHT), st.integers(0, 3 * HEIGHT))
def test_good_til_block_accepted_exactly_within_height_and_window(gtb: int, height: int) -> None:
    rules = ReplayRules(max_good_til_blocks=20)
    if height <= gtb <= height + 20:
        check_expiry(gtb, None, height, NOW_MS, rules)
    else:
        with pytest.raises(Expired):
            check_expiry(gtb, None, height, NOW_MS, rules)


@given(st.integers(NOW_MS - 2 * DAY_MS, NOW_MS + 2 * DAY_MS))
def test_good_til_time_accepted_exactly_within_now_and_window(gtt: int) -> None:
    if NOW_MS <= gtt <= NOW_MS + DAY_MS:
        check_expiry(None, gtt, HEIGHT, NOW_MS)
    else:
        with pytest.raises(Expired):
            check_expiry(None, gtt, HEIGHT, NOW_MS)


def test_both_expiries_must_hold_and_one_is_required() -> None:
    with pytest.raises(Expired):
        check_expiry(HEIGHT, NOW_MS - 1, HEIGHT, NOW_MS)
    with pytest.raises(Expired):
        check_expiry(HEIGHT - 1, NOW_MS, HEIGHT, NOW_MS)
    check_expiry(HEIGHT, NOW_MS, HEIGHT, NOW_MS)
    with pytest.raises(Expired):
        check_expiry(None, None, HEIGHT, NOW_MS)


@settings(max_examples=60, deadline=None)  # signs and verifies: keep load spikes from failing it
@given(
    st.lists(st.tuples(st.integers(1, 4), in_window), max_size=25),
    st.sampled_from(["replay", "stale", "ahead", "expired", "far", "chain", "badsig"]),
)
def test_a_refused_envelope_leaves_the_book_byte_identical(history: list[tuple[int, int]], kind: str) -> None:
    book = NonceBook()
    for i, n in history:
        with contextlib.suppress(NonceReused):
            book, _ = admit(book, signed(key(i), nonce=n), chain_id=CHAIN, height=HEIGHT, now_ms=NOW_MS)
    before, before_windows = book.encode(), dict(book.windows)
    used = book.window(key(1).public_hex)
    bad: SignedEnvelope
    if kind == "replay" and used:
        bad = signed(key(1), nonce=used[-1])
    elif kind == "stale":
        bad = signed(nonce=NOW_MS - DAY_MS - 1)
    elif kind == "ahead":
        bad = signed(nonce=NOW_MS + DAY_MS + 1)
    elif kind == "expired":
        bad = signed(nonce=NOW_MS + DAY_MS, good_til_block=HEIGHT - 1)
    elif kind == "far":
        bad = signed(nonce=NOW_MS + DAY_MS, good_til_block=HEIGHT + 21)
    elif kind == "chain":
        bad = signed(nonce=NOW_MS + DAY_MS, chain_id="elsewhere")
    else:
        good = signed(nonce=NOW_MS + DAY_MS)
        bad = SignedEnvelope(good.envelope, signed(BOB, nonce=NOW_MS + DAY_MS).signature)
    expected = {
        "replay": NonceReused,
        "stale": NonceOutOfWindow,
        "ahead": NonceOutOfWindow,
        "expired": Expired,
        "far": Expired,
        "chain": WrongChain,
        "badsig": BadSignature,
    }[kind]
    if kind == "replay" and not used:
        return
    with pytest.raises(expected):
        admit(book, bad, chain_id=CHAIN, height=HEIGHT, now_ms=NOW_MS)
    assert book.encode() == before and book.windows == before_windows


def test_admit_accepts_then_refuses_the_replay_and_returns_the_hash() -> None:
    s = signed()
    book, tx_hash = admit(NonceBook(), s, chain_id=CHAIN, height=HEIGHT, now_ms=NOW_MS)
    assert len(tx_hash) == 32 and book.window(SIGNER) == (NOW_MS,)
    with pytest.raises(NonceReused):
        admit(book, s, chain_id=CHAIN, height=HEIGHT + 1, now_ms=NOW_MS + 500)
    other, _ = admit(book, signed(BOB), chain_id=CHAIN, height=HEIGHT, now_ms=NOW_MS)  # nonces are per signer
    assert set(other.windows) == {SIGNER, BOB.public_hex}


def test_encoding_is_sorted_fixed_width_and_independent_of_insertion_order() -> None:
    a, b = ALICE.public_hex, BOB.public_hex
    one = NonceBook().accept(a, NOW_MS, NOW_MS).accept(b, NOW_MS + 2, NOW_MS).accept(a, NOW_MS + 1, NOW_MS)
    two = NonceBook().accept(b, NOW_MS + 2, NOW_MS).accept(a, NOW_MS + 1, NOW_MS).accept(a, NOW_MS, NOW_MS)
    assert list(one.windows) != list(two.windows)  # different dict order ...
    assert one.encode() == two.encode() and one.root() == two.root()  # ... same bytes
    first, second = sorted([a, b])
    windows = {a: (NOW_MS, NOW_MS + 1), b: (NOW_MS + 2,)}
    by_hand = struct.pack(">I", 2)
    for s in (first, second):
        by_hand += bytes.fromhex(s) + struct.pack(f">I{len(windows[s])}Q", len(windows[s]), *windows[s])
    assert one.encode() == by_hand
    assert NonceBook().encode() == b"\x00\x00\x00\x00"


@given(st.lists(in_window, max_size=30), st.integers(0, 3 * DAY_MS))
def test_pruning_never_lets_a_used_nonce_back_in(nonces: list[int], later: int) -> None:
    book, accepted = accept_all(NonceBook(), nonces, SMALL)
    now = NOW_MS + later
    pruned = book.prune(now, SMALL)
    for n, ok in zip(nonces, accepted, strict=True):
        if ok:
            with pytest.raises(NonceReused):
                pruned.accept(SIGNER, n, now, SMALL)
    assert all(x >= now - DAY_MS for w in pruned.windows.values() for x in w)


def test_bad_inputs_are_typed_errors() -> None:
    with pytest.raises(InvalidValue):
        NonceBook().accept("not-a-key", NOW_MS, NOW_MS)
    with pytest.raises(InvalidValue):
        NonceBook().accept(SIGNER, -1, NOW_MS)
    with pytest.raises(InvalidValue):
        NonceBook().accept(SIGNER, True, NOW_MS)  # type: ignore[arg-type]
    with pytest.raises(InvalidValue):
        ReplayRules(capacity=0).validate()
    assert issubclass(NonceReused, ClearhouseError) and issubclass(NonceOutOfWindow, NonceReused)
