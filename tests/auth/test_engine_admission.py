"""Every refusal path through ``Engine.apply_block``: each is a typed ``TransactionRejected`` and leaves the
state root exactly as a twin ledger that never saw the transaction (an admitted command that then fails
differs only in the used nonce). Signed reports: a bad one refuses the block and changes nothing."""

from __future__ import annotations

from collections.abc import Callable

import msgspec
import pytest

from clearhouse.auth.commands import AuthorizeKey, AuthorizeReporter, RevokeKey
from clearhouse.auth.envelope import SignedEnvelope, encode_signed, sign
from clearhouse.auth.errors import BadSignature, Unauthorized, WrongChain
from clearhouse.auth.reports import sign_report
from clearhouse.ledger import commands as c
from clearhouse.ledger import events as ev
from clearhouse.ledger.admission import tx_outcomes
from clearhouse.ledger.block import Block, ReportSig
from clearhouse.ledger.engine import Engine
from clearhouse.ledger.errors import InvalidValue
from clearhouse.ledger.fixedpoint import WAD
from clearhouse.ledger.state_root import full_state_root
from clearhouse.oracle.reports import SourceReport

from .engine_world import ADMIN, ALICE, BOB, CHAIN, MALLORY, World
from .helpers import key

SUB = key(5)


def withdraw(account: str = "alice", amount: int = 100) -> c.Withdraw:
    return c.Withdraw(account, "USDC", amount * WAD)


def rejected(result_events: tuple[ev.Event, ...]) -> list[str]:
    return [e.code for e in result_events if isinstance(e, ev.TransactionRejected)]


def refused_like_nothing(
    bad: Callable[[World], list[SignedEnvelope | bytes]],
    setup: Callable[[World], None] = lambda w: None,
) -> list[str]:
    """Apply a block of ``bad(w)`` and, on a twin, an empty block: the roots must be equal. Returns the
    refusal codes."""
    w, twin = World(), World()
    setup(w)
    setup(twin)
    result = w.apply(*bad(w))
    assert result.state_root == twin.apply().state_root
    assert result.state_root == full_state_root(w.engine.state)
    assert not any(isinstance(e, ev.TransactionAdmitted) for e in result.events)
    return rejected(result.events)


def test_a_valid_withdrawal_applies_and_uses_its_nonce() -> None:
    w = World()
    env = w.tx(ALICE, withdraw())
    result = w.apply(env)
    assert rejected(result.events) == []
    assert any(isinstance(e, ev.Withdrawn) for e in result.events)
    assert env.envelope.nonce in w.engine.state.auth.state.nonces.window(ALICE.public_hex)  # type: ignore[union-attr]
    assert w.engine.state.accounts["alice"].balances["USDC"] == 9_900 * WAD


def _flip(sig: str) -> str:
    return sig[:20] + ("0" if sig[20] != "0" else "1") + sig[21:]


def test_a_tampered_signature_is_bad_signature() -> None:
    def bad(w: World) -> list[SignedEnvelope | bytes]:
        env = w.tx(ALICE, withdraw())
        return [SignedEnvelope(env.envelope, _flip(env.signature))]

    assert refused_like_nothing(bad) == ["bad_signature"]


def test_a_tampered_command_is_bad_signature() -> None:
    def bad(w: World) -> list[SignedEnvelope | bytes]:
        env = w.tx(ALICE, withdraw(amount=1))
        forged = msgspec.structs.replace(env.envelope, command=withdraw(amount=9_000))
        return [SignedEnvelope(forged, env.signature)]

    assert refused_like_nothing(bad) == ["bad_signature"]


def test_non_canonical_bytes_are_malformed() -> None:
    def bad(w: World) -> list[SignedEnvelope | bytes]:
        data = encode_signed(w.tx(ALICE, withdraw()))
        return [data.replace(b'{"envelope":', b'{ "envelope":', 1)]

    assert refused_like_nothing(bad) == ["malformed_envelope"]


def test_another_key_cannot_withdraw_from_your_account() -> None:
    assert refused_like_nothing(lambda w: [w.tx(MALLORY, withdraw("alice"))]) == ["unauthorized"]


def test_an_admin_key_cannot_withdraw_from_your_account_either() -> None:
    assert refused_like_nothing(lambda w: [w.tx(ADMIN, withdraw("alice"))]) == ["unauthorized"]


def test_a_replayed_transaction_is_nonce_reused() -> None:
    sent: list[SignedEnvelope] = []

    def setup(w: World) -> None:
        env = w.tx(ALICE, withdraw())
        w.apply(env)
        sent.append(env)

    assert refused_like_nothing(lambda w: [sent[0]], setup) == ["nonce_reused"]


def test_the_same_transaction_twice_in_one_block_applies_once() -> None:
    w = World()
    env = w.tx(ALICE, withdraw())
    result = w.apply(env, env)
    assert rejected(result.events) == ["nonce_reused"]
    assert w.engine.state.accounts["alice"].balances["USDC"] == 9_900 * WAD


def test_a_reused_nonce_with_another_command_is_refused() -> None:
    used: list[int] = []

    def setup(w: World) -> None:
        env = w.tx(ALICE, withdraw())
        w.apply(env)
        used.append(env.envelope.nonce)

    codes = refused_like_nothing(lambda w: [w.tx(ALICE, withdraw(amount=7), nonce=used[0])], setup)
    assert codes == ["nonce_reused"]


def test_a_nonce_far_from_block_time_is_out_of_window() -> None:
    stale = 2 * 86_400_000
    codes = refused_like_nothing(lambda w: [w.tx(ALICE, withdraw(), nonce=w.next_time() * 1000 - stale)])
    assert codes == ["nonce_out_of_window"]


def test_a_wrong_chain_id_is_refused() -> None:
    codes = refused_like_nothing(lambda w: [w.tx(ALICE, withdraw(), chain_id="other-chain")])
    assert codes == ["wrong_chain"]


def test_an_expired_transaction_is_refused() -> None:
    assert refused_like_nothing(lambda w: [w.tx(ALICE, withdraw(), good_til_block=w.height)]) == ["expired"]


def test_a_transaction_valid_for_too_long_is_refused() -> None:
    codes = refused_like_nothing(lambda w: [w.tx(ALICE, withdraw(), good_til_block=w.height + 100)])
    assert codes == ["expired"]


def test_an_unsigned_command_is_refused_once_signatures_are_required() -> None:
    w, twin = World(), World()
    result = w.apply(txs=[withdraw()])
    assert result.state_root == twin.apply().state_root
    assert rejected(result.events) == ["unauthorized"]
    assert w.engine.state.accounts["alice"].balances["USDC"] == 10_000 * WAD


def test_a_trade_is_never_authorised_by_one_signature() -> None:
    trade = c.Trade("ETH-PERP", "alice", "bob", WAD, 2000 * WAD, "buyer")
    assert refused_like_nothing(lambda w: [w.tx(ALICE, trade)]) == ["unauthorized"]


def test_a_keeper_must_be_paid_into_its_own_account() -> None:
    close = c.CloseOut("bob", liquidator="alice")
    assert refused_like_nothing(lambda w: [w.tx(MALLORY, close)]) == ["unauthorized"]


def test_only_an_admin_deposits() -> None:
    assert refused_like_nothing(lambda w: [w.tx(ALICE, c.Deposit("alice", "USDC", WAD))]) == ["unauthorized"]


def test_an_admitted_command_that_fails_uses_its_nonce_and_nothing_else() -> None:
    w, twin = World(), World()
    env = w.tx(ALICE, withdraw(amount=10**9))
    result = w.apply(env)
    assert [o.status for o in tx_outcomes(w.blocks[-1], result.events)] == ["failed"]
    assert rejected(result.events) == ["insufficient_balance"]
    other = twin.apply()
    assert result.state_root != other.state_root  # the nonce is used...
    a, b = w.engine.state, twin.engine.state
    assert a.accounts == b.accounts and a.pools == b.pools
    assert a.auth is not None and b.auth is not None
    assert a.auth.state.registry == b.auth.state.registry and a.auth.state.fills == b.auth.state.fills
    assert a.auth.state.nonces.window(ALICE.public_hex) == (
        *b.auth.state.nonces.window(ALICE.public_hex),
        env.envelope.nonce,
    )
    again = w.apply(env)  # ...so the same envelope can never apply later
    assert rejected(again.events) == ["nonce_reused"]


def test_a_sub_key_acts_until_revoked_and_never_manages_keys() -> None:
    w = World()
    w.apply(w.tx(ALICE, AuthorizeKey("alice", SUB.public_hex)))
    assert w.engine.state.auth.state.registry.controls(SUB.public_hex, "alice")  # type: ignore[union-attr]
    result = w.apply(w.tx(SUB, withdraw()), w.tx(SUB, AuthorizeKey("alice", key(6).public_hex)))
    assert rejected(result.events) == ["unauthorized"]  # the withdrawal applied, managing keys did not
    assert w.engine.state.accounts["alice"].balances["USDC"] == 9_900 * WAD


def test_a_revoked_sub_key_is_unauthorized() -> None:
    def setup(w: World) -> None:
        w.apply(w.tx(ALICE, AuthorizeKey("alice", SUB.public_hex)))
        revoked = w.apply(w.tx(ALICE, RevokeKey("alice", SUB.public_hex)))
        assert any(isinstance(e, ev.KeyRevoked) for e in revoked.events)

    assert refused_like_nothing(lambda w: [w.tx(SUB, withdraw())], setup) == ["unauthorized"]


def test_mallory_cannot_authorise_her_key_on_alices_account() -> None:
    codes = refused_like_nothing(lambda w: [w.tx(MALLORY, AuthorizeKey("alice", MALLORY.public_hex))])
    assert codes == ["unauthorized"]


def test_open_account_must_be_signed_by_the_owner_it_names() -> None:
    codes = refused_like_nothing(lambda w: [w.tx(MALLORY, c.OpenAccount("zed", key(7).public_hex))])
    assert codes == ["unauthorized"]
    w = World()
    w.apply(w.tx(key(7), c.OpenAccount("zed", key(7).public_hex)))
    assert w.engine.state.auth.state.registry.accounts["zed"].owner == key(7).public_hex  # type: ignore[union-attr]


def test_configure_auth_cannot_run_twice() -> None:
    w = World()
    again = c.ConfigureAuth(CHAIN, (MALLORY.public_hex,))
    assert rejected(w.apply(w.tx(ADMIN, again)).events) == ["already_exists"]
    assert w.engine.state.auth.state.registry.admins == (ADMIN.public_hex,)  # type: ignore[union-attr]


def test_bare_commands_of_the_genesis_block_run_and_their_accounts_get_owners() -> None:
    engine = Engine()
    engine.apply_block(
        Block(
            1,
            1_000,
            {},
            (
                c.OpenAccount("early", ALICE.public_hex),
                c.ConfigureAuth(CHAIN, (ADMIN.public_hex,)),
                c.OpenAccount("late", BOB.public_hex),
            ),
        )
    )
    auth = engine.state.auth
    assert auth is not None
    assert {a: k.owner for a, k in auth.state.registry.accounts.items()} == {
        "early": ALICE.public_hex,
        "late": BOB.public_hex,
    }
    result = engine.apply_block(Block(2, 1_060, {}, (c.OpenAccount("later", MALLORY.public_hex),)))
    assert rejected(result.events) == ["unauthorized"]


def test_signed_envelopes_on_a_ledger_without_auth_are_refused() -> None:
    engine = Engine()
    env = sign(ALICE, withdraw(), chain_id=CHAIN, nonce=1, good_til_block=2)
    result = engine.apply_block(Block(1, 1_000, signed=(msgspec.Raw(encode_signed(env)),)))
    assert rejected(result.events) == ["wrong_chain"]
    assert engine.state.auth is None


def test_mixed_mode_runs_bare_and_signed_commands() -> None:
    w = World(require_signatures=False)
    result = w.apply(w.tx(ALICE, withdraw()), txs=[withdraw("bob")])
    assert rejected(result.events) == []
    assert w.engine.state.accounts["bob"].balances["USDC"] == 9_900 * WAD


# -- signed oracle reports -------------------------------------------------------------------------------

R1, R2, R3 = key(11), key(12), key(13)


def with_reporters(w: World) -> None:
    w.apply(
        w.tx(ADMIN, AuthorizeReporter("BTC", "s1", R1.public_hex)),
        w.tx(ADMIN, AuthorizeReporter("BTC", "s2", R2.public_hex)),
    )


def reports(w: World) -> tuple[SourceReport, ...]:
    t = w.next_time()
    return (SourceReport("s1", "BTC", 60_000 * WAD, t), SourceReport("s2", "BTC", 60_100 * WAD, t))


def sigs(rs: tuple[SourceReport, ...], keys: tuple[object, ...]) -> tuple[ReportSig, ...]:
    out = []
    for r, k in zip(rs, keys, strict=True):
        s = sign_report(r, CHAIN, k)  # type: ignore[arg-type]
        out.append(ReportSig(s.signer, s.signature))
    return tuple(out)


def test_whitelisted_reporters_price_the_feed() -> None:
    w = World()
    with_reporters(w)
    rs = reports(w)
    w.apply(reports=rs, report_sigs=sigs(rs, (R1, R2)))
    assert w.engine.state.prices["BTC"][0] == 60_050 * WAD


@pytest.mark.parametrize(
    ("case", "error"),
    [
        ("not_whitelisted", Unauthorized),
        ("wrong_key", Unauthorized),
        ("unsigned", Unauthorized),
        ("tampered", BadSignature),
        ("wrong_chain", BadSignature),
        ("count", InvalidValue),
    ],
)
def test_a_bad_report_signature_refuses_the_block_and_changes_nothing(case: str, error: type) -> None:
    w = World()
    with_reporters(w)
    rs = reports(w)
    good = sigs(rs, (R1, R2))
    if case == "not_whitelisted":
        rs = (*rs, SourceReport("s3", "BTC", 60_000 * WAD, w.next_time()))
        bad = (*good, *sigs(rs[2:], (R3,)))
    elif case == "wrong_key":
        bad = sigs(rs, (R2, R2))
    elif case == "unsigned":
        bad = ()
    elif case == "tampered":
        bad = (good[0], ReportSig(good[1].signer, _flip(good[1].signature)))
    elif case == "wrong_chain":
        s = sign_report(rs[0], "other-chain", R1)
        bad = (ReportSig(s.signer, s.signature), good[1])
    else:
        bad = good[:1]
    root, height = w.engine.state_root(), w.height
    with pytest.raises(error):
        w.apply(reports=rs, report_sigs=bad)
    assert w.engine.state_root() == root and w.height == height == w.engine.state.height
    assert "BTC" not in w.engine.state.prices


def test_report_signatures_on_a_ledger_without_auth_refuse_the_block() -> None:
    engine = Engine()
    r = SourceReport("s1", "BTC", WAD, 1_000)
    s = sign_report(r, CHAIN, R1)
    signatures = (ReportSig(s.signer, s.signature),)
    with pytest.raises(WrongChain):
        engine.apply_block(Block(1, 1_000, reports=(r,), report_signatures=signatures))
    assert engine.state.height == 0


def test_content_that_would_not_replay_as_applied_refuses_the_block() -> None:
    w = World()
    env = w.tx(ALICE, withdraw())
    root, height = w.engine.state_root(), w.height
    as_bytes = Block(height + 1, w.next_time(), signed=(encode_signed(env),))  # type: ignore[arg-type]
    with pytest.raises(InvalidValue, match=r"msgspec\.Raw"):
        w.engine.apply_block(as_bytes)
    bare_auth = Block(height + 1, w.next_time(), txs=(AuthorizeKey("alice", SUB.public_hex),))  # type: ignore[arg-type]
    with pytest.raises(InvalidValue, match="only a signed envelope"):
        w.engine.apply_block(bare_auth)
    assert w.engine.state_root() == root and w.engine.state.height == height


def test_signed_bytes_that_would_not_journal_verbatim_refuse_the_block() -> None:
    w = World()
    data = encode_signed(w.tx(ALICE, withdraw()))
    root, height = w.engine.state_root(), w.height
    for bad in (b"\xff\xfe", data[:-3], b" " + data + b" ", b"[1] 2", data + b"," + data):
        block = Block(height + 1, w.next_time(), signed=(msgspec.Raw(bad),))
        with pytest.raises(InvalidValue):
            w.engine.apply_block(block)
    assert w.engine.state_root() == root and w.engine.state.height == height


def test_a_non_canonical_envelope_is_refused_the_same_way_on_replay() -> None:
    from clearhouse.journal.memory import MemoryJournalStore
    from clearhouse.journal.replay import verify_journal

    store = MemoryJournalStore()
    w = World(journal=store)
    data = encode_signed(w.tx(ALICE, withdraw())).replace(b'{"envelope":', b'{ "envelope" :', 1)
    result = w.apply(data)
    assert rejected(result.events) == ["malformed_envelope"]
    report, engine = verify_journal(store)
    assert report.ok and engine.state_root() == w.engine.state_root()
