"""Who may do what: account ownership, sub-keys, the admin key set and reporter whitelists.

Every command type has exactly one :class:`Rule` in :data:`RULES` (a test checks that every type in
``AnyCommand`` is classified):

* ``ADMIN`` — listing and changing assets, markets, vault types, oracles and parameters, and every
  command that brings value in from outside the ledger (``Deposit`` and the fund top-ups: the ledger has
  no source account to debit, so only the bridge / admin key may credit one);
* ``OWNER`` — the command's ``account`` must be controlled by the signer: its owner or one of the live
  sub-keys the owner authorised (Hyperliquid's API wallets) — trading against a pool, withdrawing,
  moving margin, vault and stability-pool operations;
* ``OWNER_ONLY`` — managing sub-keys: the owner itself, never a sub-key;
* ``SELF`` — ``OpenAccount``: the signer must be the owner it names (no one opens an account for a key
  that did not ask);
* ``KEEPER`` — permissionless enforcement (Liquidate, CloseOut, Bark, auction takes and bids, …): anyone
  may send it, but the account it pays or debits (``liquidator`` / ``keeper`` / ``taker`` / ``bidder``)
  must be the signer's own;
* ``PERMISSIONLESS`` — ``SettleFunding`` (only realises what is owed, pays no one) and ``MatchedFill``
  (the consent is in the two signed orders it carries; :func:`clearhouse.auth.clearing.clear_fill`);
* ``MATCHED`` — ``Trade``: never authorised from one signature; a trade clears only as a fill that
  carries both parties' signed orders (a ``MatchedFill``).

Oracle reports are accepted from a source only when signed by the key whitelisted for that source of
that feed. Every refusal raises :class:`~clearhouse.ledger.errors.Unauthorized` and changes nothing; the
registry is a value and its updates return a new one.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass

import msgspec

from clearhouse.auth.commands import (
    MAX_SUBKEYS,
    AuthorizeKey,
    AuthorizeReporter,
    MatchedFill,
    RevokeKey,
    RevokeReporter,
    check_key,
)
from clearhouse.ledger import commands as c
from clearhouse.ledger.errors import AlreadyExists, InvalidValue, Unauthorized, UnknownAccount

AUTH_DOMAIN = b"clearhouse/auth/v1\x00"


class Rule(enum.Enum):
    ADMIN = "admin"
    OWNER = "owner"
    OWNER_ONLY = "owner_only"
    SELF = "self"
    KEEPER = "keeper"
    PERMISSIONLESS = "permissionless"
    MATCHED = "matched"


@dataclass(frozen=True, slots=True)
class Permission:
    """A rule and the command field it reads (the account, the owner key or the paid account)."""

    rule: Rule
    field: str | None = None


_ADMIN = Permission(Rule.ADMIN)
_OWNER = Permission(Rule.OWNER, "account")

RULES: dict[type[c.Command], Permission] = {
    # governance and parameters
    c.SetLedgerParams: _ADMIN,
    c.ListAsset: _ADMIN,
    c.ListMarket: _ADMIN,
    c.UpdateMarket: _ADMIN,
    c.SetVolatility: _ADMIN,
    c.ConfigureOracle: _ADMIN,
    c.ConfirmOracle: _ADMIN,
    c.ConfigureAuth: _ADMIN,
    c.ConfigureAmm: _ADMIN,
    c.ListVaultType: _ADMIN,
    c.UpdateVaultType: _ADMIN,
    c.SetDebtLimit: _ADMIN,
    AuthorizeReporter: _ADMIN,
    RevokeReporter: _ADMIN,
    # value entering from outside the ledger (bridge / faucet)
    c.Deposit: _ADMIN,
    c.DepositBackstop: _ADMIN,
    c.DepositInsurance: _ADMIN,
    # accounts
    c.OpenAccount: Permission(Rule.SELF, "owner"),
    AuthorizeKey: Permission(Rule.OWNER_ONLY, "account"),
    RevokeKey: Permission(Rule.OWNER_ONLY, "account"),
    c.Withdraw: _OWNER,
    c.TransferMargin: _OWNER,
    c.SwapAmm: _OWNER,
    c.Lock: _OWNER,
    c.Free: _OWNER,
    c.Draw: _OWNER,
    c.Wipe: _OWNER,
    c.ProvideToSP: _OWNER,
    c.WithdrawFromSP: _OWNER,
    c.Trade: Permission(Rule.MATCHED),
    # anyone may submit a fill: both parties' consent is in their signed orders (see auth.clearing)
    MatchedFill: Permission(Rule.PERMISSIONLESS),
    # permissionless enforcement, paid to (or paid by) the caller's own account
    c.SettleFunding: Permission(Rule.PERMISSIONLESS),
    c.CloseOut: Permission(Rule.KEEPER, "liquidator"),
    c.Liquidate: Permission(Rule.KEEPER, "liquidator"),
    c.Bark: Permission(Rule.KEEPER, "keeper"),
    c.TakeAuction: Permission(Rule.KEEPER, "taker"),
    c.RedoAuction: Permission(Rule.KEEPER, "keeper"),
    c.Tend: Permission(Rule.KEEPER, "bidder"),
    c.Dent: Permission(Rule.KEEPER, "bidder"),
    c.Deal: Permission(Rule.KEEPER, "keeper"),
    c.Tick: Permission(Rule.KEEPER, "keeper"),
    # the steward: the admin sets keys and guardrails; the signer must be the controller / guardian key the
    # command names, and the engine's steward checks that key against its configuration (docs/controller.md)
    c.ConfigureSteward: _ADMIN,
    c.SetGuardrail: _ADMIN,
    c.ProposeParameter: Permission(Rule.SELF, "controller"),
    c.ApplyParameter: Permission(Rule.SELF, "controller"),
    c.VetoProposal: Permission(Rule.SELF, "guardian"),
    # dated futures and options (mechanisms.options)
    c.ListContract: _ADMIN,
    c.SetScenarioTable: _ADMIN,
    c.TradeContract: Permission(Rule.MATCHED),
    c.LiquidateContracts: Permission(Rule.KEEPER, "liquidator"),
}


def permission(command: c.Command) -> Permission:
    """The rule of ``command``'s exact type; an unclassified type is refused, never allowed."""
    try:
        return RULES[type(command)]
    except KeyError:
        raise Unauthorized(f"command {type(command).__name__} has no authorization rule") from None


class AccountKeys(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    owner: str
    #: Live sub-keys, sorted.
    subkeys: tuple[str, ...] = ()


class AuthRegistry(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Ownership and whitelists. Treat as immutable: updates return a new registry."""

    #: Keys allowed to send ADMIN commands, sorted.
    admins: tuple[str, ...] = ()
    accounts: dict[str, AccountKeys] = {}
    #: feed (price key) -> source name -> the one key that signs its reports.
    reporters: dict[str, dict[str, str]] = {}

    # -- queries ------------------------------------------------------------------------------------

    def controls(self, signer: str, account: str) -> bool:
        """Whether ``signer`` is ``account``'s owner or one of its live sub-keys."""
        keys = self.accounts.get(account)
        return keys is not None and (signer == keys.owner or signer in keys.subkeys)

    def _require_control(self, signer: str, account: str, what: str) -> None:
        if account not in self.accounts:
            raise UnknownAccount(f"{what}: account {account} does not exist")
        if not self.controls(signer, account):
            raise Unauthorized(
                f"{what}: key {signer[:16]}… neither owns account {account} nor is its sub-key"
            )

    def authorize(self, signer: str, command: c.Command) -> None:
        """Raise :class:`Unauthorized` (or :class:`UnknownAccount`) unless ``signer`` may send ``command``."""
        perm = permission(command)
        name = type(command).__name__
        if perm.rule is Rule.ADMIN:
            if signer not in self.admins:
                raise Unauthorized(f"{name} needs an admin key; {signer[:16]}… is not one")
        elif perm.rule is Rule.SELF:
            assert perm.field is not None
            if getattr(command, perm.field) != signer:
                raise Unauthorized(f"{name}: the signer must be the owner key it names")
        elif perm.rule is Rule.OWNER_ONLY:
            assert perm.field is not None
            account = getattr(command, perm.field)
            keys = self.accounts.get(account)
            if keys is None:
                raise UnknownAccount(f"{name}: account {account} does not exist")
            if signer != keys.owner:
                raise Unauthorized(f"{name}: only the owner of {account} manages its keys")
        elif perm.rule in (Rule.OWNER, Rule.KEEPER):
            assert perm.field is not None
            self._require_control(signer, getattr(command, perm.field), name)
        elif perm.rule is Rule.MATCHED:
            raise Unauthorized(f"{name} clears only as a fill carrying both parties' signed orders")
        # Rule.PERMISSIONLESS: anyone

    def authorize_order(self, signer: str, account: str) -> None:
        """A signed order for ``account`` must come from its owner or a live sub-key."""
        self._require_control(signer, account, "order")

    def authorize_report(self, signer: str, feed: str, source: str) -> None:
        """A report of ``source`` for ``feed`` must be signed by the key whitelisted for them."""
        key = self.reporters.get(feed, {}).get(source)
        if key is None:
            raise Unauthorized(f"source {source} is not a whitelisted reporter of feed {feed}")
        if key != signer:
            raise Unauthorized(f"report of {feed}/{source} signed by {signer[:16]}…, not its reporter key")

    # -- updates (each returns a new registry; self is unchanged) -------------------------------------

    def apply(self, signer: str, command: c.Command) -> AuthRegistry:
        """Authorise ``command`` from ``signer`` and return the registry after it (unchanged for
        commands that do not touch keys)."""
        self.authorize(signer, command)
        command.check()
        if isinstance(command, c.OpenAccount):
            if command.account in self.accounts:
                raise AlreadyExists(f"account {command.account} exists")
            return self._with_account(command.account, AccountKeys(command.owner))
        if isinstance(command, AuthorizeKey):
            keys = self.accounts[command.account]
            if command.key == keys.owner or command.key in keys.subkeys:
                raise AlreadyExists(f"key {command.key[:16]}… already acts for {command.account}")
            if len(keys.subkeys) >= MAX_SUBKEYS:
                raise InvalidValue(f"account {command.account} has {MAX_SUBKEYS} sub-keys; revoke one first")
            subkeys = tuple(sorted((*keys.subkeys, command.key)))
            return self._with_account(command.account, AccountKeys(keys.owner, subkeys))
        if isinstance(command, RevokeKey):
            keys = self.accounts[command.account]
            if command.key not in keys.subkeys:
                raise InvalidValue(f"key {command.key[:16]}… is not a sub-key of {command.account}")
            subkeys = tuple(k for k in keys.subkeys if k != command.key)
            return self._with_account(command.account, AccountKeys(keys.owner, subkeys))
        if isinstance(command, AuthorizeReporter):
            feed = {**self.reporters.get(command.feed, {}), command.source: command.key}
            return AuthRegistry(self.admins, self.accounts, {**self.reporters, command.feed: feed})
        if isinstance(command, RevokeReporter):
            current = self.reporters.get(command.feed, {})
            if command.source not in current:
                raise InvalidValue(f"{command.feed}/{command.source} has no reporter key")
            rest = {s: k for s, k in current.items() if s != command.source}
            reporters = {f: v for f, v in self.reporters.items() if f != command.feed}
            if rest:
                reporters[command.feed] = rest
            return AuthRegistry(self.admins, self.accounts, reporters)
        return self

    def _with_account(self, account: str, keys: AccountKeys) -> AuthRegistry:
        return AuthRegistry(self.admins, {**self.accounts, account: keys}, self.reporters)

    # -- canonical encoding -------------------------------------------------------------------------

    def encode(self) -> bytes:
        """Canonical bytes (sorted admins, accounts by id, feeds and sources by name) for a state root."""
        doc = [
            sorted(self.admins),
            [[a, k.owner, sorted(k.subkeys)] for a, k in sorted(self.accounts.items())],
            [[f, sorted(s.items())] for f, s in sorted(self.reporters.items())],
        ]
        return _encoder.encode(doc)

    def root(self) -> bytes:
        return hashlib.sha256(AUTH_DOMAIN + self.encode()).digest()


def registry(admins: tuple[str, ...] | list[str] = ()) -> AuthRegistry:
    """An empty registry with the given admin keys (validated, sorted, unique)."""
    keys = sorted({check_key(k, "admin key") for k in admins})
    return AuthRegistry(tuple(keys))


def authorize(reg: AuthRegistry, signer: str, command: c.Command) -> None:
    """Function form of :meth:`AuthRegistry.authorize`."""
    reg.authorize(signer, command)


_encoder = msgspec.json.Encoder(order="deterministic")


__all__ = [
    "AUTH_DOMAIN",
    "MAX_SUBKEYS",
    "RULES",
    "AccountKeys",
    "AuthRegistry",
    "AuthorizeKey",
    "AuthorizeReporter",
    "MatchedFill",
    "Permission",
    "RevokeKey",
    "RevokeReporter",
    "Rule",
    "authorize",
    "permission",
    "registry",
]
