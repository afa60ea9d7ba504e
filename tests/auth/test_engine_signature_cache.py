"""A driver's cache of already-verified signatures saves ed25519 in the block and changes no result."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import msgspec

from clearhouse.auth.envelope import SignedEnvelope
from clearhouse.ledger import commands as c
from clearhouse.ledger.admission import VerifiedSignatures
from clearhouse.ledger.fixedpoint import WAD

from .engine_world import ALICE, BOB, CHAIN, MALLORY, World


def batch(w: World) -> list[SignedEnvelope]:
    good = [w.tx(ALICE, c.Withdraw("alice", "USDC", WAD)), w.tx(BOB, c.Withdraw("bob", "USDC", 2 * WAD))]
    forged = msgspec.structs.replace(good[0].envelope, command=c.Withdraw("alice", "USDC", 500 * WAD))
    return [*good, SignedEnvelope(forged, good[0].signature), w.tx(MALLORY, c.Withdraw("alice", "USDC", WAD))]


def test_cached_and_uncached_engines_give_the_same_events_and_roots() -> None:
    plain, cached = World(), World()
    cache = VerifiedSignatures()
    cached.engine.signature_cache = cache  # type: ignore[attr-defined]
    envs = batch(cached)
    batch(plain)
    with ThreadPoolExecutor(2) as pool:
        results = cache.verify_many(envs, CHAIN, executor=pool)
    assert [isinstance(r, bytes) for r in results] == [True, True, False, True]
    assert len(cache) == 3  # the forged envelope is not remembered
    a, b = plain.apply(*envs), cached.apply(*envs)
    assert a.events_bytes == b.events_bytes and a.state_root == b.state_root
    assert cache.hits == 3  # two applied, mallory's refused by authorization, all without a 2nd ed25519
    assert b"bad_signature" in b.events_bytes


def test_a_bounded_cache_forgets_the_oldest() -> None:
    w = World()
    cache = VerifiedSignatures(capacity=2)
    envs = [w.tx(ALICE, c.Withdraw("alice", "USDC", WAD)) for _ in range(3)]
    for env in envs:
        cache.verify(env, CHAIN)
    assert len(cache) == 2
    w.engine.signature_cache = cache  # type: ignore[attr-defined]
    w.apply(*envs)
    assert cache.hits == 2


def test_cached_order_signatures_clear_the_same_fills() -> None:
    from clearhouse.auth.commands import MatchedFill
    from clearhouse.auth.orders import Fill, Order, SignedOrder, sign_order

    def order(account: str, side: str, limit: int) -> Order:
        return Order(CHAIN, account, "ETH-PERP", side, WAD, limit * WAD, 1, good_til_block=20)  # type: ignore[arg-type]

    buy, sell = sign_order(order("alice", "buy", 2000), ALICE), sign_order(order("bob", "sell", 2000), BOB)
    forged = SignedOrder(order("alice", "buy", 2100), buy.signer, buy.signature)  # a higher limit, same sig
    fill = Fill("ETH-PERP", WAD, 2000 * WAD, "buyer")
    plain, cached = World(), World()
    cache = VerifiedSignatures()
    cached.engine.signature_cache = cache  # type: ignore[attr-defined]
    assert cache.verify_order(buy, CHAIN) and cache.verify_order(sell, CHAIN)
    outcomes = []
    for w in (plain, cached):
        envs = [w.tx(MALLORY, MatchedFill(forged, sell, fill)), w.tx(MALLORY, MatchedFill(buy, sell, fill))]
        outcomes.append(w.apply(*envs))
    assert outcomes[0].events_bytes == outcomes[1].events_bytes
    assert outcomes[0].state_root == outcomes[1].state_root
    assert b"bad_signature" in outcomes[1].events_bytes and b"FillCleared" in outcomes[1].events_bytes
    assert cache.hits == 2  # both orders of the good fill, without ed25519 (the forged buy fails first)
