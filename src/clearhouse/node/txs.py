"""The adapter between signed envelopes and blocks: the only place an accepted envelope becomes what a
:class:`~clearhouse.ledger.block.Block` carries.

**Edge-only authentication (today).** The engine does not check envelopes yet (see docs/auth.md,
"Engine integration"), so the node does, with :mod:`clearhouse.auth`: the signature at submission
(``verify``), and expiry, the nonce window and authorization when the block is built, in block order,
against :class:`EdgeAuth` (nonce windows, sub-keys and order fills kept by the node and persisted in its
index, see :mod:`clearhouse.node.index`). Blocks then carry the bare commands: ``clearhouse verify``
re-executes them but cannot re-check signatures. When the engine admits envelopes itself, this module
is the one to switch (put the ``SignedEnvelope`` values into the block and drop :class:`EdgeAuth`).

Ownership comes from the ledger itself (``Account.owner``, set by ``OpenAccount``), so the registry
cannot disagree with the state; admin and reporter keys come from the node configuration.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from clearhouse.auth.authorization import AccountKeys, AuthRegistry
from clearhouse.auth.clearing import FillBook, clear_fill
from clearhouse.auth.commands import AuthorizeKey, AuthorizeReporter, MatchedFill, RevokeKey, RevokeReporter
from clearhouse.auth.envelope import SignedEnvelope
from clearhouse.auth.errors import Expired, Unauthorized
from clearhouse.auth.nonces import NonceWindow, ReplayRules, check_expiry, check_nonce
from clearhouse.auth.orders import Order, order_id
from clearhouse.ledger import commands as c
from clearhouse.ledger.errors import ClearhouseError, MissingPrice
from clearhouse.ledger.model import LedgerState


@dataclass(frozen=True, slots=True)
class Pending:
    """An envelope accepted into the mempool: its hash, canonical bytes and arrival sequence."""

    tx_hash: str
    signed: SignedEnvelope
    raw: bytes
    seq: int


@dataclass(frozen=True, slots=True)
class Outcome:
    """What block building decided for one envelope."""

    tx_hash: str
    #: "included" (in the block at ``index``), "applied" (a key command the node applied itself),
    #: "rejected" or "expired" (not in the block).
    status: str
    index: int | None = None
    code: str | None = None
    message: str = ""


@dataclass(slots=True)
class BlockPlan:
    commands: list[c.AnyCommand] = field(default_factory=list)
    #: For each block index, the envelope that produced it.
    hashes: list[str] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    #: (signer, nonce) used by this block, in order.
    nonces: list[tuple[str, int]] = field(default_factory=list)
    #: block index -> fills it records if its Trade succeeds: (order id hex, order, filled after).
    fills: dict[int, list[tuple[str, Order, int]]] = field(default_factory=dict)
    #: (account, key, "add"|"remove") applied by this block.
    keys: list[tuple[str, str, str]] = field(default_factory=list)


class EdgeAuth:
    """Nonce windows, sub-keys and fills the node keeps while the engine does not."""

    def __init__(self, chain_id: str, rules: ReplayRules, admins: Iterable[str],
                 reporters: Mapping[str, Mapping[str, str]]) -> None:
        self.chain_id = chain_id
        self.rules = rules
        self.admins = tuple(sorted(set(admins)))
        self.reporters = {f: dict(s) for f, s in reporters.items()}
        self.windows: dict[str, NonceWindow] = {}
        self.subkeys: dict[str, tuple[str, ...]] = {}
        self.fills = FillBook()

    # -- the registry, derived from the ledger ---------------------------------------------------

    def registry(self, state: LedgerState) -> AuthRegistry:
        accounts = {
            aid: AccountKeys(acct.owner, self.subkeys.get(aid, ())) for aid, acct in state.accounts.items()
        }
        return AuthRegistry(self.admins, accounts, self.reporters)

    def authorize_report(self, signer: str, feed: str, source: str) -> None:
        AuthRegistry(self.admins, {}, self.reporters).authorize_report(signer, feed, source)

    # -- checks ----------------------------------------------------------------------------------

    def precheck(self, signed: SignedEnvelope, registry: AuthRegistry, height: int, now_ms: int) -> None:
        """The checks of block building against the current state, at submission (typed refusals).

        The block re-checks everything: this only turns certain failures into an immediate answer."""
        env = signed.envelope
        check_expiry(env.good_til_block, env.good_til_time, height, now_ms, self.rules)
        check_nonce(self.windows.get(env.signer, ()), env.nonce, now_ms, self.rules)
        registry.authorize(env.signer, env.command)

    def plan(self, pending: Sequence[Pending], state: LedgerState, height: int, now_ms: int) -> BlockPlan:
        """Admit ``pending`` in order for the block at ``height``; nothing here is applied to ``self``
        (see :meth:`commit`), so a block that fails to journal leaves the node's auth state as it was."""
        plan = BlockPlan()
        registry = self.registry(state)
        windows: dict[str, NonceWindow] = {}
        fills = self.fills
        for p in pending:
            env = p.signed.envelope
            cmd = env.command
            try:
                check_expiry(env.good_til_block, env.good_til_time, height, now_ms, self.rules)
                window = check_nonce(
                    windows.get(env.signer, self.windows.get(env.signer, ())), env.nonce, now_ms, self.rules
                )
                registry.authorize(env.signer, cmd)
                if isinstance(cmd, AuthorizeReporter | RevokeReporter):
                    raise Unauthorized("reporter keys are set in the node configuration on this node")
                if isinstance(cmd, AuthorizeKey | RevokeKey):
                    cmd.check()
                    registry = registry.apply(env.signer, cmd)
                    windows[env.signer] = window
                    plan.nonces.append((env.signer, env.nonce))
                    plan.keys.append((cmd.account, cmd.key, "add" if isinstance(cmd, AuthorizeKey) else "remove"))
                    plan.outcomes.append(Outcome(p.tx_hash, "applied"))
                    continue
                block_cmd: c.AnyCommand
                recorded: list[tuple[str, Order, int]] = []
                if isinstance(cmd, MatchedFill):
                    block_cmd, fills, recorded = self._clear(fills, registry, cmd, state, height, now_ms)
                else:
                    block_cmd = cmd
            except Expired as err:
                plan.outcomes.append(Outcome(p.tx_hash, "expired", None, err.code, str(err)))
                continue
            except ClearhouseError as err:
                plan.outcomes.append(Outcome(p.tx_hash, "rejected", None, err.code, str(err)))
                continue
            windows[env.signer] = window
            plan.nonces.append((env.signer, env.nonce))
            index = len(plan.commands)
            plan.commands.append(block_cmd)
            plan.hashes.append(p.tx_hash)
            if recorded:
                plan.fills[index] = recorded
            plan.outcomes.append(Outcome(p.tx_hash, "included", index))
        return plan

    def _clear(self, fills: FillBook, registry: AuthRegistry, cmd: MatchedFill, state: LedgerState,
               height: int, now_ms: int) -> tuple[c.AnyCommand, FillBook, list[tuple[str, Order, int]]]:
        market = state.markets.get(cmd.fill.market)
        if market is None:
            from clearhouse.ledger.errors import UnknownMarket

            raise UnknownMarket(f"unknown market {cmd.fill.market}")
        price = state.prices.get(market.spec.oracle)
        if price is None:
            raise MissingPrice(f"no index price for {market.spec.oracle} yet")

        def size(account: str) -> int | None:
            acct = state.accounts.get(account)
            if acct is None:
                return None
            pos = acct.positions.get(cmd.fill.market)
            return pos.size if pos is not None else 0

        new, trade = clear_fill(
            fills, registry, cmd, chain_id=self.chain_id, index_price=price[0], band=market.spec.price_band,
            tick_size=1, step_size=market.spec.step_size, height=height, now_ms=now_ms,
            positions=(size(cmd.buy.order.account), size(cmd.sell.order.account)),
        )
        recorded = []
        for so in (cmd.buy, cmd.sell):
            oid = order_id(so.order)
            recorded.append((oid.hex(), so.order, new.filled(oid)))
        return trade, new, recorded

    def commit(self, plan: BlockPlan, rejected: set[int], now_ms: int) -> None:
        """Apply a journalled block's plan: nonces always (an admitted envelope used its nonce even if
        its command failed), fills only of the trades that succeeded, key changes."""
        self.apply(plan.nonces, [f for i, fs in sorted(plan.fills.items()) if i not in rejected for f in fs],
                   plan.keys, now_ms)

    def apply(self, nonces: Iterable[tuple[str, int]], fills: Iterable[tuple[str, Order, int]],
              keys: Iterable[tuple[str, str, str]], now_ms: int) -> None:
        """Record a block's effects (also used to rebuild the state from the node index on restart)."""
        for signer, nonce in nonces:
            self.windows[signer] = check_nonce(self.windows.get(signer, ()), nonce, now_ms, self.rules)
        book = self.fills
        for oid, order, filled in fills:
            book = book.with_fill(bytes.fromhex(oid), order, filled)
        self.fills = book
        for account, key, op in keys:
            current = self.subkeys.get(account, ())
            self.subkeys[account] = (
                tuple(sorted({*current, key})) if op == "add" else tuple(k for k in current if k != key)
            )
