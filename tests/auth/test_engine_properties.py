"""Property: random mixes of valid and invalid signed envelopes never move an account's money without its
owner's (or a live sub-key's) signature, balances move exactly by the applied withdrawals, a refused
envelope is never admitted, and replaying the journal reproduces every state root."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
from hypothesis import event, given, settings
from hypothesis import strategies as st

from clearhouse.auth.commands import AuthorizeKey, MatchedFill, RevokeKey
from clearhouse.auth.envelope import SignedEnvelope, decode_signed
from clearhouse.auth.orders import Fill, Order, SignedOrder, sign_order
from clearhouse.journal.memory import MemoryJournalStore
from clearhouse.journal.replay import verify_journal
from clearhouse.ledger import commands as c
from clearhouse.ledger import events as ev
from clearhouse.ledger.admission import LedgerAuth
from clearhouse.ledger.fixedpoint import WAD

from .engine_world import ALICE, BOB, CHAIN, MALLORY, World
from .helpers import key

SUB = key(5)
SIGNERS = (ALICE, BOB, MALLORY, SUB)
OWNER_OF = {"alice": ALICE.public_hex, "bob": BOB.public_hex}
CORRUPTIONS = ("none", "none", "none", "tamper", "wrong_chain", "expired", "replay", "reuse_nonce", "bare")


@dataclass(frozen=True)
class Action:
    kind: str  # withdraw | authorize | revoke
    signer: int
    account: str
    amount: int
    corruption: str


actions = st.builds(
    Action,
    st.sampled_from(("withdraw", "withdraw", "withdraw", "authorize", "revoke")),
    st.integers(0, len(SIGNERS) - 1),
    st.sampled_from(("alice", "bob")),
    st.integers(1, 4_000),
    st.sampled_from(CORRUPTIONS),
)


def build(w: World, a: Action, sent: list[SignedEnvelope]) -> tuple[SignedEnvelope | None, c.Command | None]:
    """The envelope for ``a`` (or a bare command for ``bare``), corrupted as asked."""
    k = SIGNERS[a.signer]
    cmd: c.Command
    if a.kind == "withdraw":
        cmd = c.Withdraw(a.account, "USDC", a.amount * WAD)
    elif a.kind == "authorize":
        cmd = AuthorizeKey(a.account, SUB.public_hex)
    else:
        cmd = RevokeKey(a.account, SUB.public_hex)
    if a.corruption == "bare":  # only ledger commands can be bare (a Block's txs are AnyCommand)
        return None, c.Withdraw(a.account, "USDC", a.amount * WAD)
    if a.corruption == "replay" and sent:
        return sent[a.amount % len(sent)], None
    if a.corruption == "reuse_nonce" and sent:
        old = sent[a.amount % len(sent)].envelope
        return w.tx(k, cmd, nonce=old.nonce) if old.signer == k.public_hex else w.tx(k, cmd), None
    if a.corruption == "wrong_chain":
        return w.tx(k, cmd, chain_id="elsewhere"), None
    if a.corruption == "expired":
        return w.tx(k, cmd, good_til_block=w.height), None
    env = w.tx(k, cmd)
    if a.corruption == "tamper":
        forged = msgspec.structs.replace(env.envelope, command=c.Withdraw(a.account, "USDC", 5_000 * WAD))
        return SignedEnvelope(forged, env.signature), None
    return env, None


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(actions, max_size=5), min_size=1, max_size=5))
def test_money_moves_only_with_the_owners_signature_and_replay_matches(blocks: list[list[Action]]) -> None:
    store = MemoryJournalStore()
    w = World(journal=store)
    roots = {b.height: r for b, r in zip(w.blocks, w.roots, strict=True)}
    sent: list[SignedEnvelope] = []
    live_sub: set[str] = set()  # accounts for which SUB is a live sub-key
    for actions_ in blocks:
        before = {a: w.engine.state.accounts[a].balances.get("USDC", 0) for a in OWNER_OF}
        built = [build(w, a, sent) for a in actions_]
        signed = [e for e, _ in built if e is not None]
        bare = [b for _, b in built if b is not None]
        result = w.apply(*signed, txs=bare)  # type: ignore[arg-type]
        roots[w.height] = result.state_root
        auth = w.engine.state.auth
        assert auth is not None  # the incremental digests equal a recomputation from scratch
        scratch = LedgerAuth.create(auth.chain_id, auth.require_signatures, auth.rules, auth.state)
        assert auth.root() == scratch.root()
        for e in result.events:
            if isinstance(e, ev.TransactionRejected | ev.Withdrawn | ev.KeyAuthorized):
                event(getattr(e, "code", type(e).__name__))
        block = w.blocks[-1]
        admitted = {e.tx_index: e for e in result.events if isinstance(e, ev.TransactionAdmitted)}
        moved = dict.fromkeys(OWNER_OF, 0)
        for e in result.events:
            if isinstance(e, ev.Withdrawn):
                moved[e.account] += e.amount
        for e in result.events:
            if isinstance(e, ev.KeyAuthorized):
                live_sub.add(e.account)
            elif isinstance(e, ev.KeyRevoked):
                live_sub.discard(e.account)
        # every withdrawal is an admitted envelope signed by the account's owner or its live sub-key
        withdrawals_by_index: dict[int, str] = {}
        idx = len(block.txs)
        for raw in block.signed:
            env = decode_signed(bytes(raw)).envelope
            if isinstance(env.command, c.Withdraw):
                withdrawals_by_index[idx] = env.command.account
            idx += 1
        for i, adm in admitted.items():
            assert i >= len(block.txs)
            env = decode_signed(bytes(block.signed[i - len(block.txs)])).envelope
            assert env.chain_id == w.engine.state.auth.chain_id  # type: ignore[union-attr]
            if i in withdrawals_by_index:
                account = withdrawals_by_index[i]
                assert adm.signer in (OWNER_OF[account], SUB.public_hex)
                assert adm.signer != MALLORY.public_hex
        n_withdrawn = sum(1 for e in result.events if isinstance(e, ev.Withdrawn))
        assert n_withdrawn <= sum(1 for i in admitted if i in withdrawals_by_index)
        for account in OWNER_OF:
            after = w.engine.state.accounts[account].balances.get("USDC", 0)
            assert after == before[account] - moved[account]
        # no bare command ran and no corrupted envelope was admitted
        assert all(i >= len(block.txs) for i in admitted)
        sent.extend(signed)
    registry = w.engine.state.auth.state.registry  # type: ignore[union-attr]
    assert live_sub == {a for a, k in registry.accounts.items() if SUB.public_hex in k.subkeys}
    replayed: dict[int, str] = {}
    report, engine = verify_journal(store, on_root=lambda h, r: replayed.__setitem__(h, r))
    assert report.ok
    assert replayed == roots
    assert engine.state_root() == w.engine.state_root()


@dataclass(frozen=True)
class FillAction:
    buy_signer: int
    sell_signer: int
    order: int  # which of the three order pairs
    size: int  # in thousandths of ETH
    price: int  # offset from 2000
    forge: bool  # a higher buy limit under the original signature


fill_actions = st.builds(
    FillAction,
    st.sampled_from((0, 0, 1, 2)),
    st.sampled_from((0, 0, 1, 2)),
    st.integers(0, 2),
    st.integers(1, 1500),
    st.integers(-120, 120),
    st.booleans(),
)
MILLI = WAD // 1000


def _order(account: str, side: str, i: int) -> Order:
    limit = 2100 if side == "buy" else 1900
    return Order(CHAIN, account, "ETH-PERP", side, 1000 * MILLI, limit * WAD, i, good_til_block=30)  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(fill_actions, max_size=4), min_size=1, max_size=4))
def test_fills_need_both_owners_orders_and_never_exceed_them(blocks: list[list[FillAction]]) -> None:
    store = MemoryJournalStore()
    w = World(journal=store)
    signers = {"alice": (ALICE, MALLORY, BOB), "bob": (BOB, MALLORY, ALICE)}  # the owner first
    filled: dict[str, int] = {}
    for actions_ in blocks:
        envs = []
        for a in actions_:
            buy, sell = _order("alice", "buy", a.order), _order("bob", "sell", a.order)
            sb = sign_order(buy, signers["alice"][a.buy_signer])
            ss = sign_order(sell, signers["bob"][a.sell_signer])
            if a.forge:
                forged = msgspec.structs.replace(buy, limit_price=9000 * WAD)
                sb = SignedOrder(forged, sb.signer, sb.signature)
            fill = Fill("ETH-PERP", a.size * MILLI, (2000 + a.price) * WAD, "buyer")
            envs.append(w.tx(MALLORY, MatchedFill(sb, ss, fill)))  # anyone may submit a fill
        before = w.engine.state.accounts["alice"].positions.get("ETH-PERP")
        result = w.apply(*envs)
        after = w.engine.state.accounts["alice"].positions.get("ETH-PERP")
        current = -1
        traded = 0
        for e in result.events:
            if isinstance(e, ev.TransactionAdmitted):
                current = e.tx_index
            elif isinstance(e, ev.TransactionRejected):
                event(e.code)
            elif isinstance(e, ev.Traded):
                traded += e.size
                event("traded")
            elif isinstance(e, ev.FillCleared):
                m = envs[current].envelope.command
                assert isinstance(m, MatchedFill)
                # cleared only with both owners' genuine, unaltered orders
                assert (m.buy.signer, m.sell.signer) == (ALICE.public_hex, BOB.public_hex)
                assert m.buy.order.limit_price == 2100 * WAD
                filled[e.buy_order], filled[e.sell_order] = e.buy_filled, e.sell_filled
        assert (after.size if after else 0) - (before.size if before else 0) == traded
        assert all(amount <= 1000 * MILLI for amount in filled.values())  # never beyond an order's size
    assert sum(filled.values()) == 2 * (
        w.engine.state.accounts["alice"].positions["ETH-PERP"].size if filled else 0
    )
    replayed: dict[int, str] = {}
    report, _ = verify_journal(store, on_root=lambda h, r: replayed.__setitem__(h, r))
    assert report.ok and replayed == {b.height: r for b, r in zip(w.blocks, w.roots, strict=True)}
