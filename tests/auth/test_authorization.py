"""Authorization: every command type is classified; owners, sub-keys, keepers, admins and reporters."""

from __future__ import annotations

from typing import get_args

import pytest

from clearhouse.auth.authorization import (
    MAX_SUBKEYS,
    RULES,
    AuthorizeKey,
    AuthorizeReporter,
    AuthRegistry,
    MatchedFill,
    RevokeKey,
    RevokeReporter,
    Rule,
    authorize,
    registry,
)
from clearhouse.auth.errors import Unauthorized
from clearhouse.ledger import commands as c
from clearhouse.ledger import errors as ledger_errors
from clearhouse.ledger.errors import AlreadyExists, InvalidValue, UnknownAccount
from clearhouse.ledger.model import AssetSpec

from .helpers import ADMIN, ALICE, BOB, MALLORY, key

A, B, M, ADM = ALICE.public_hex, BOB.public_hex, MALLORY.public_hex, ADMIN.public_hex
AUTH_COMMANDS = {AuthorizeKey, RevokeKey, AuthorizeReporter, RevokeReporter, MatchedFill}


def test_every_command_type_is_classified_and_nothing_else_is() -> None:
    all_types = set(get_args(c.AnyCommand))
    assert len(all_types) >= 41  # 35 ledger commands, ConfigureAuth, five steward commands (all need a rule)
    assert all_types - set(RULES) == set(), "unclassified command types"
    assert set(RULES) - all_types == AUTH_COMMANDS


def test_every_rule_field_exists_on_its_command() -> None:
    for cls, perm in RULES.items():
        if perm.rule in (Rule.OWNER, Rule.OWNER_ONLY, Rule.KEEPER, Rule.SELF):
            assert perm.field in cls.__struct_fields__, (cls.__name__, perm.field)
        else:
            assert perm.field is None, cls.__name__


def test_the_ledgers_unauthorized_is_the_one_raised() -> None:
    assert Unauthorized is ledger_errors.Unauthorized


def world() -> AuthRegistry:
    reg = registry([ADM])
    reg = reg.apply(A, c.OpenAccount("alice", A))
    reg = reg.apply(B, c.OpenAccount("bob", B))
    return reg.apply(M, c.OpenAccount("mallory", M))


def test_only_the_owner_withdraws_moves_margin_or_trades_against_a_pool() -> None:
    reg = world()
    for cmd in (
        c.Withdraw("alice", "USD", 1),
        c.TransferMargin("alice", "ETH-PERP", 1),
        c.SwapAmm("alice", "ETH-PERP", 1, 1),
        c.Draw("alice", "ETH-A", 1),
        c.WithdrawFromSP("alice", 1),
    ):
        reg.authorize(A, cmd)
        with pytest.raises(Unauthorized, match="neither owns account alice"):
            reg.authorize(M, cmd)
        with pytest.raises(Unauthorized):
            reg.authorize(ADM, cmd)  # the admin is not the owner either
    with pytest.raises(UnknownAccount):
        reg.authorize(A, c.Withdraw("nobody", "USD", 1))


def test_a_sub_key_acts_until_revoked_and_never_manages_keys() -> None:
    sub = key(20).public_hex
    reg = world().apply(A, AuthorizeKey("alice", sub))
    reg.authorize(sub, c.Withdraw("alice", "USD", 1))
    reg.authorize_order(sub, "alice")
    with pytest.raises(Unauthorized, match="only the owner"):
        reg.authorize(sub, AuthorizeKey("alice", key(21).public_hex))
    with pytest.raises(Unauthorized, match="only the owner"):
        reg.authorize(sub, RevokeKey("alice", sub))
    with pytest.raises(Unauthorized):
        world().apply(M, AuthorizeKey("alice", M))  # a stranger cannot give itself a sub-key
    revoked = reg.apply(A, RevokeKey("alice", sub))
    with pytest.raises(Unauthorized):
        revoked.authorize(sub, c.Withdraw("alice", "USD", 1))
    with pytest.raises(Unauthorized):
        revoked.authorize_order(sub, "alice")
    reg.authorize(sub, c.Withdraw("alice", "USD", 1))  # the old value is unchanged


def test_sub_keys_are_bounded_and_unique() -> None:
    reg = world()
    for i in range(MAX_SUBKEYS):
        reg = reg.apply(A, AuthorizeKey("alice", key(30 + i).public_hex))
    with pytest.raises(InvalidValue, match="revoke one first"):
        reg.apply(A, AuthorizeKey("alice", key(99).public_hex))
    with pytest.raises(AlreadyExists):
        reg.apply(A, AuthorizeKey("alice", key(30).public_hex))
    with pytest.raises(AlreadyExists):
        world().apply(A, AuthorizeKey("alice", A))
    with pytest.raises(InvalidValue):
        world().apply(A, RevokeKey("alice", key(30).public_hex))


def test_liquidations_are_permissionless_but_pay_the_callers_own_account() -> None:
    reg = world()
    for cmd in (
        c.Liquidate("alice", "mallory"),
        c.CloseOut("alice", "mallory"),
        c.Bark("alice", "ETH-A", "mallory"),
        c.TakeAuction(1, 10, 10, "mallory"),
        c.Tend(1, "mallory", 1, 1),
        c.Dent(1, "mallory", 1, 1),
        c.Deal(1, "mallory"),
        c.Tick(1, "mallory"),
        c.RedoAuction(1, "mallory"),
    ):
        reg.authorize(M, cmd)  # mallory may enforce against anyone, paid to mallory
        with pytest.raises(Unauthorized):
            reg.authorize(B, cmd)  # bob cannot direct the reward (or the bid) to mallory's account
    reg.authorize(M, c.SettleFunding("alice"))
    reg.authorize(key(77).public_hex, c.SettleFunding("alice"))  # even a key with no account


def test_admin_commands_need_an_admin_key() -> None:
    reg = world()
    for cmd in (
        c.ListAsset(AssetSpec("USD")),
        c.ConfirmOracle("ETH"),
        c.SetDebtLimit(0),
        c.Deposit("alice", "USD", 10),
        c.DepositInsurance("USD", 10),
        c.SetVolatility("ETH-PERP", 10**18),
        AuthorizeReporter("ETH", "binance", B),
    ):
        reg.authorize(ADM, cmd)
        with pytest.raises(Unauthorized, match="admin"):
            reg.authorize(A, cmd)


def test_a_bare_trade_is_never_authorised() -> None:
    with pytest.raises(Unauthorized, match="both parties' signed orders"):
        world().authorize(ADM, c.Trade("ETH-PERP", "alice", "bob", 1, 1))


def test_open_account_must_be_signed_by_the_owner_it_names() -> None:
    reg = registry([ADM])
    with pytest.raises(Unauthorized):
        reg.apply(M, c.OpenAccount("alice", A))
    reg = reg.apply(A, c.OpenAccount("alice", A))
    assert reg.controls(A, "alice")
    with pytest.raises(AlreadyExists):
        reg.apply(M, c.OpenAccount("alice", M))


def test_reporters_are_whitelisted_per_feed_and_source() -> None:
    reg = world().apply(ADM, AuthorizeReporter("ETH", "binance", B))
    reg = reg.apply(ADM, AuthorizeReporter("ETH", "coinbase", M))
    reg.authorize_report(B, "ETH", "binance")
    with pytest.raises(Unauthorized, match="not its reporter key"):
        reg.authorize_report(M, "ETH", "binance")  # a reporter cannot speak for another source
    with pytest.raises(Unauthorized, match="not a whitelisted reporter"):
        reg.authorize_report(B, "BTC", "binance")
    revoked = reg.apply(ADM, RevokeReporter("ETH", "binance"))
    with pytest.raises(Unauthorized):
        revoked.authorize_report(B, "ETH", "binance")
    revoked.authorize_report(M, "ETH", "coinbase")


def test_a_refusal_leaves_the_registry_byte_identical() -> None:
    reg = world().apply(A, AuthorizeKey("alice", key(20).public_hex))
    before = reg.encode()
    for signer, cmd in (
        (M, AuthorizeKey("alice", M)),
        (key(20).public_hex, RevokeKey("alice", key(20).public_hex)),
        (M, c.OpenAccount("alice", M)),
        (A, AuthorizeReporter("ETH", "x", A)),
        (A, AuthorizeKey("alice", "nothex")),
    ):
        with pytest.raises((Unauthorized, AlreadyExists, InvalidValue)):
            reg.apply(signer, cmd)
        assert reg.encode() == before


def test_encoding_does_not_depend_on_history_order() -> None:
    one = registry([ADM, A]).apply(A, c.OpenAccount("a", A)).apply(B, c.OpenAccount("b", B))
    two = registry([A, ADM]).apply(B, c.OpenAccount("b", B)).apply(A, c.OpenAccount("a", A))
    assert list(one.accounts) != list(two.accounts)
    assert one.encode() == two.encode() and one.root() == two.root()
    assert one.apply(A, AuthorizeKey("a", M)).root() != one.root()


def test_an_unclassified_command_type_is_refused() -> None:
    class Novel(c.Command, frozen=True, tag=True):
        account: str

    with pytest.raises(Unauthorized, match="no authorization rule"):
        authorize(world(), A, Novel("alice"))
