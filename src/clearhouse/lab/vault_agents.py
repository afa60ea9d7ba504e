"""Maker vaults in the stress lab: the vault population, vault keepers and the auction log.

**Population** (:func:`build_vault_population`, drawn from ``PCG64([seed, 3])`` so the perp population
of the same seed is unchanged): each owner deposits collateral worth ``ratio × debt`` at the opening
price, locks it and draws ``debt`` in the opening block (capped so the vault opens safe at the
engine's own price).

**Keepers** (:class:`VaultAgents`) live outside the engine. After every block each keeper reads the
engine state (exact integers) and decides, then sends transactions that land per the network's
inclusion model (:meth:`clearhouse.lab.network.NetworkModel.landing_block`): it offers its bid
percentile capped at its gas cap; below every inclusion tier the transaction waits in the mempool
until gas falls (it may land too late and revert, still paying ``failed_gas_limit``).

* ``Bark`` when the vault is unsafe by the engine's exact check (``ink × spot < art × rate``, the
  oracle price the engine holds, i.e. the one-hour OSM in Black Thursday) and the expected gain minus
  gas reaches the keeper's ``profit_threshold``. Expected gain: Dutch — the kick incentive
  ``tip + chip × tab``; English — ``lot × external − min(tab, lot × valuation)`` (what it expects to
  win the lot for); fixed discount — ``seize × external − repay``.
* Dutch (clip.sol; the bark gain, the take and the redo decisions are
  :mod:`clearhouse.risk.vault_keeper_decision`, shared with the node's keeper): ``TakeAuction`` when
  the current price ``≤`` its valuation
  ``external × (1 − discount)`` (sent with ``max_price`` = the valuation, so a later landing never
  pays more), as much as its free capital buys; ``RedoAuction`` when the sale needs a reset and the
  redo incentive pays the gas.
* English (flip.sol): ``Tend`` its valuation (capped at ``tab``) when that beats the high bid by
  ``beg``; in the dent phase ``Dent`` to ``tab / valuation`` of the lot when that is ``beg`` lower;
  the high bidder ``Deal``\\s once ``ttl`` or ``tau`` passed; ``Tick`` an expired auction it wants to
  bid on.
* The **zero bidder** (March 2020): ``Tend`` 0 on every English auction without a bid, a high gas
  cap, ``Deal`` when it wins; in a Dutch auction it is an ordinary taker with its own discount.
* Won collateral is sold at the external price (``Withdraw`` + ``Deposit`` of the proceeds), which
  recycles the keeper's capital; English bids stay escrowed until the auction is dealt.

**Auction log** (:class:`AuctionLog`): per auction, kick and end time, debt, tab, collateral sold,
DAI paid, the external price at each sale, recovered debt, penalty income and bad debt, from the
engine's events; ``clearhouse.lab.metrics.vault_summary`` turns it into the summary.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from clearhouse.core.fixedpoint import RAY, WAD, ceil_div
from clearhouse.lab.network import GWEI, NetworkModel
from clearhouse.lab.population import draw, owner_key, to_units
from clearhouse.lab.scenario import Scenario, VaultKeeperSpec, per_keeper
from clearhouse.ledger import commands as c
from clearhouse.ledger import events as ev
from clearhouse.ledger.engine import Engine
from clearhouse.ledger.model import Auction, VaultTypeSpec
from clearhouse.liquidation.vault import (
    ENGLISH,
    DutchAuction,
    EnglishAuction,
    EnglishState,
    FixedDiscount,
    english_state,
    fixed_discount_amounts,
    spot,
)
from clearhouse.risk.vault_keeper_decision import (
    bark_profitable,
    dutch_bark_gain,
    dutch_price,
    dutch_redo_gain,
    dutch_take,
    redo_profitable,
    valuation,
    vault_unsafe,
)

VaultTxKind = Literal["bark", "take", "redo", "tend", "dent", "deal", "tick", "sell"]
ZERO_BIDDER = "zero-bidder"


def vault_owner_id(i: int, n: int) -> str:
    return f"vault-{i:0{len(str(n - 1))}d}"


def vault_keeper_id(i: int) -> str:
    return f"vkeeper-{i:02d}"


# ----------------------------------------------------------------------------- population


@dataclass(frozen=True, slots=True)
class VaultOwner:
    id: str
    vault_type: str
    #: Collateral deposited and locked (WAD).
    ink: int
    #: Debt it means to draw (settlement WAD) and the drawn collateralisation ratio.
    debt: int
    ratio: float


@dataclass
class VaultPopulation:
    owners: list[VaultOwner]
    #: Block 1, after the perp set-up: vault types, the debt limit, owner and keeper accounts.
    setup: list[c.AnyCommand] = field(default_factory=list)
    #: Block 1, after the perp deposits: owners' collateral, keepers' capital.
    deposits: list[c.AnyCommand] = field(default_factory=list)
    types: dict[str, VaultTypeSpec] = field(default_factory=dict)
    settle_unit: int = 1

    def opening(self, prices: dict[str, int]) -> list[c.AnyCommand]:
        """Lock every owner's collateral and draw its debt, capped at ``ink × price / mat`` (× 0.999)
        at the engine's opening price so every vault opens safe."""
        txs: list[c.AnyCommand] = []
        for o in self.owners:
            vt = self.types[o.vault_type]
            price = prices[vt.price_key]
            cap = o.ink * price * RAY // vt.mat // WAD * 999 // 1000
            amount = min(o.debt, cap)
            amount -= amount % self.settle_unit
            txs.append(c.Lock(o.id, o.vault_type, o.ink))
            if amount >= max(vt.dust, self.settle_unit):
                txs.append(c.Draw(o.id, o.vault_type, amount))
        return txs


def build_vault_population(scenario: Scenario, seed: int, p0: dict[str, float]) -> VaultPopulation:
    """Vault owners and keepers of ``scenario`` for ``seed``; ``p0`` are the opening path prices."""
    vs = scenario.spec.vaults
    assert vs is not None
    settle = scenario.params.settlement_asset
    assets = {a.id: a for a in scenario.assets}
    types = {v.id: v for v in scenario.vault_types}
    vp = vs.population
    n = vp.count
    rng = np.random.Generator(np.random.PCG64([seed, 3]))
    type_ids = sorted(types)
    weights = np.array([vp.types.get(t, 0.0) if vp.types else 1.0 for t in type_ids], dtype=np.float64)
    weights /= weights.sum()
    type_idx = rng.choice(len(type_ids), size=n, p=weights)
    ratios = draw(rng, vp.ratio, n)
    debts = draw(rng, vp.debt, n)
    owners: list[VaultOwner] = []
    for i in range(n):
        tid = type_ids[int(type_idx[i])]
        vt = types[tid]
        coll = assets[vt.collateral]
        debt = to_units(float(debts[i]), assets[settle].decimals, "down")
        ink = to_units(float(debts[i]) * float(ratios[i]) / p0[vt.price_key], coll.decimals, "down")
        owners.append(VaultOwner(vault_owner_id(i, n), tid, ink, debt, float(ratios[i])))

    setup: list[c.AnyCommand] = [c.ListVaultType(v) for v in scenario.vault_types]
    if vs.debt_limit > 0:
        setup.append(c.SetDebtLimit(to_units(vs.debt_limit, assets[settle].decimals)))
    ks = vs.keepers
    keeper_ids = [vault_keeper_id(i) for i in range(ks.count)]
    if ks.zero_bidder is not None:
        keeper_ids.append(ZERO_BIDDER)
    setup += [c.OpenAccount(a, owner_key(a)) for a in keeper_ids]
    setup += [c.OpenAccount(o.id, owner_key(o.id)) for o in owners]
    deposits: list[c.AnyCommand] = []
    for i, kid in enumerate(keeper_ids):
        cap = (
            float(per_keeper(ks.capital, i))
            if kid != ZERO_BIDDER
            else (ks.zero_bidder.capital if ks.zero_bidder else 0.0)
        )
        if cap > 0:
            deposits.append(c.Deposit(kid, settle, to_units(cap, assets[settle].decimals)))
    for o in owners:
        if o.ink > 0:
            deposits.append(c.Deposit(o.id, types[o.vault_type].collateral, o.ink))
    return VaultPopulation(owners, setup, deposits, types, assets[settle].unit)


# ----------------------------------------------------------------------------- keepers


@dataclass
class _Round:
    """One keeper's sends after one block: the gas it offers, where that lands, its free capital."""

    agents: VaultAgents
    keeper: VaultKeeper
    block: int
    offered: int
    land: int | None
    capped: bool
    free: int
    sent: int = 0

    def __call__(self, kind: VaultTxKind, cmd: c.AnyCommand, key: tuple[Any, ...], commit: int = 0) -> None:
        if self.capped:
            self.keeper.stats.capped_bids += 1
        self.agents._send(self.keeper, self.block, kind, cmd, key, self.offered, self.land, commit)
        self.sent += 1
        self.free -= commit


@dataclass(slots=True)
class VaultTx:
    """A vault keeper's transaction on its way to a block."""

    kind: VaultTxKind
    sender: str
    command: c.AnyCommand
    sent_block: int
    land_block: int
    gas_price: int
    gas_limit: int
    failed_gas_limit: int
    seq: int
    key: tuple[Any, ...]
    #: Settlement capital the keeper set aside for it (takes, bids).
    commit: int = 0


@dataclass
class VaultKeeperStats:
    sent: int = 0
    succeeded: int = 0
    failed: int = 0
    never_included: int = 0
    capped_bids: int = 0
    declined_unprofitable: int = 0
    declined_capital: int = 0
    by_kind: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    gas_cost: float = 0.0


@dataclass
class VaultKeeper:
    id: str
    latency_blocks: int
    gas_cap_wei: int
    capital: float
    #: Required discount to the external price (WAD).
    discount: int
    profit_threshold: float
    zero: bool = False
    barks: bool = True
    stats: VaultKeeperStats = field(default_factory=VaultKeeperStats)
    pending: dict[tuple[Any, ...], int] = field(default_factory=dict)

    @property
    def committed(self) -> int:
        return sum(self.pending.values())


@dataclass
class AuctionRecord:
    """What happened to one auction (amounts settlement / collateral WAD unless noted)."""

    id: int
    kind: str
    vault_type: str
    owner: str
    kick_block: int
    kick_time: int
    #: Vault debt handed to the auction (rad) and the amount to raise (English WAD, Dutch rad).
    due: int
    tab: int
    lot: int
    external_at_kick: float
    oracle_at_kick: float
    end_time: int | None = None
    sold: int = 0
    paid: int = 0
    #: Σ slice × external price at the sale (settlement, float).
    sold_value: float = 0.0
    refund: int = 0
    recovered: int = 0
    surplus: int = 0
    bad_debt: int = 0
    winner: str = ""
    zero_bid_win: bool = False
    bids: int = 0
    redos: int = 0
    incentives: int = 0
    incentives_minted: int = 0
    #: Debt (rad) not yet recovered; the high bid of an English auction (WAD).
    left: int = 0
    last_bid: int = 0


class AuctionLog:
    """Per-auction records from the engine's events."""

    def __init__(self, external_of: dict[str, int]) -> None:
        #: price key -> column of the path
        self.col = external_of
        self.auctions: dict[int, AuctionRecord] = {}
        #: fixed-discount takeovers: (repay, seize, seize × external)
        self.takeovers: list[tuple[int, int, float]] = []

    def record(
        self,
        block: int,
        s: int,
        events: Sequence[ev.Event],
        external: np.ndarray,
        oracle: dict[str, int],
        types: dict[str, VaultTypeSpec],
    ) -> None:
        due: dict[int, int] = {}
        for e in events:
            if isinstance(e, ev.VaultBarked) and e.auction:
                due[e.auction] = e.due
            elif isinstance(e, ev.AuctionKicked):
                key = types[e.vault_type].price_key
                self.auctions[e.auction] = AuctionRecord(
                    e.auction, e.kind, e.vault_type, e.owner, block, s, due.get(e.auction, 0), e.tab, e.lot,
                    float(external[self.col[key]]), oracle.get(key, 0) / WAD, left=due.get(e.auction, 0),
                )  # fmt: skip
            elif isinstance(e, ev.AuctionTaken):
                r = self.auctions[e.auction]
                r.sold += e.slice
                r.paid += e.paid
                # as the engine's _settle_proceeds: repay debt first, the rest is penalty income
                rec = min(e.paid * RAY, r.left)
                r.left -= rec
                r.recovered += rec
                r.surplus += e.paid - min(e.paid, ceil_div(rec, RAY))
                r.sold_value += e.slice / WAD * float(external[self.col[types[r.vault_type].price_key]])
            elif isinstance(e, ev.AuctionBid):
                r = self.auctions[e.auction]
                r.bids += 1
                r.last_bid = e.bid
            elif isinstance(e, ev.AuctionRedone):
                self.auctions[e.auction].redos += 1
            elif isinstance(e, ev.KeeperIncentivePaid):
                r = self.auctions[e.auction]
                r.incentives += e.amount
                r.incentives_minted += e.minted
            elif isinstance(e, ev.AuctionEnded):
                r = self.auctions[e.auction]
                r.end_time = s
                r.refund, r.bad_debt, r.winner = e.refund, e.bad_debt, e.winner
                if e.kind == ENGLISH:
                    r.recovered, r.surplus, r.left = e.recovered, e.surplus, 0
                    r.paid = r.last_bid
                    r.sold = e.lot
                    r.sold_value = e.lot / WAD * float(external[self.col[types[r.vault_type].price_key]])
                    r.zero_bid_win = r.last_bid == 0
            elif isinstance(e, ev.VaultTakenOver):
                key = types[e.vault_type].price_key
                self.takeovers.append((e.repay, e.seize, e.seize / WAD * float(external[self.col[key]])))


class VaultAgents:
    """The vault keepers of a path, their transaction queue and the auction log."""

    def __init__(self, scenario: Scenario, vpop: VaultPopulation, n_blocks: int) -> None:
        vs = scenario.spec.vaults
        assert vs is not None
        self.scenario = scenario
        self.network: NetworkModel = scenario.network
        self.n_blocks = n_blocks
        self.spec: VaultKeeperSpec = vs.keepers
        self.types = vpop.types
        self.owner_ids = [o.id for o in vpop.owners]
        self.settle = scenario.params.settlement_asset
        self.settle_unit = vpop.settle_unit
        self.col = {a: j for j, a in enumerate(scenario.priced_assets)}
        self.gas_token = scenario.spec.keepers.gas_token
        self.gas_token_fixed = float(scenario.spec.keepers.gas_token_price or 0.0)
        ks = self.spec
        self.keepers: list[VaultKeeper] = [
            VaultKeeper(
                vault_keeper_id(i),
                int(per_keeper(ks.latency_blocks, i)),
                to_units(float(per_keeper(ks.gas_cap_gwei, i)), 9) // GWEI,
                float(per_keeper(ks.capital, i)),
                to_units(float(per_keeper(ks.discount, i)), 18),
                float(per_keeper(ks.profit_threshold, i)),
            )
            for i in range(ks.count)
        ]
        zb = ks.zero_bidder
        if zb is not None:
            self.keepers.append(
                VaultKeeper(
                    ZERO_BIDDER, zb.latency_blocks, to_units(zb.gas_cap_gwei, 9) // GWEI, zb.capital,
                    to_units(zb.discount, 18), float("-inf"), zero=True, barks=zb.bark,
                )
            )  # fmt: skip
        self.queue: dict[int, list[VaultTx]] = defaultdict(list)
        self.seq = 0
        self.log = AuctionLog(self.col)
        self.sold_collateral: dict[str, int] = defaultdict(int)
        self.sale_proceeds = 0
        self._unsafe = 0
        self._txs = 0
        self._failed = 0

    # -- queue ----------------------------------------------------------------------------------

    def due(self, block: int) -> list[VaultTx]:
        txs = self.queue.pop(block, [])
        txs.sort(key=lambda t: (-t.gas_price, t.seq))
        return txs

    def _gas_token(self, external: np.ndarray) -> float:
        j = self.col.get(self.gas_token)
        return float(external[j]) if j is not None else self.gas_token_fixed

    def settle_results(self, txs: list[VaultTx], rejected: set[int], external: np.ndarray) -> None:
        """Book the block's vault transactions (``rejected`` indexes into ``txs``)."""
        by_id = {k.id: k for k in self.keepers}
        token = self._gas_token(external)
        self._txs = sum(1 for tx in txs if tx.kind != "sell")
        self._failed = sum(1 for i, tx in enumerate(txs) if tx.kind != "sell" and i in rejected)
        for i, tx in enumerate(txs):
            k = by_id[tx.sender]
            k.pending.pop(tx.key, None)
            if tx.kind == "sell":
                continue
            ok = i not in rejected
            gas = tx.gas_limit if ok else tx.failed_gas_limit
            k.stats.gas_cost += gas * tx.gas_price / 1e18 * token
            if ok:
                k.stats.succeeded += 1
                k.stats.by_kind[tx.kind] += 1
            else:
                k.stats.failed += 1

    def record(
        self, block: int, s: int, events: Sequence[ev.Event], external: np.ndarray, engine: Engine
    ) -> None:
        oracle = {key: p for key, (p, _) in engine.state.prices.items()}
        self.log.record(block, s, events, external, oracle, self.types)

    # -- decisions ------------------------------------------------------------------------------

    def _send(
        self,
        k: VaultKeeper,
        block: int,
        kind: VaultTxKind,
        cmd: c.AnyCommand,
        key: tuple[Any, ...],
        offered: int,
        land: int | None,
        commit: int = 0,
    ) -> bool:
        self.seq += 1
        k.stats.sent += 1
        if land is None or land >= self.n_blocks:
            k.stats.never_included += 1
            k.pending[key] = 0  # stuck in the mempool: not resent
            return False
        tx = VaultTx(
            kind, k.id, cmd, block, max(land, block + 1), offered, self.spec.gas_limit,
            self.spec.failed_gas_limit, self.seq, key, commit,
        )  # fmt: skip
        self.queue[tx.land_block].append(tx)
        k.pending[key] = commit
        return True

    def observe(self, block: int, engine: Engine, external_w: Sequence[int], external: np.ndarray) -> None:
        """Decide after ``block`` (``external_w``/``external``: the path's prices, WAD and float)."""
        state = engine.state
        now = state.time
        bt = self.scenario.block_time
        token = self._gas_token(external)
        oracle = {key: p for key, (p, _) in state.prices.items()}
        # unsafe vaults by the engine's exact check (the rate as stored; drip only raises it)
        unsafe: list[tuple[str, str]] = []
        for aid in self.owner_ids:
            acct = state.accounts[aid]
            for tid, v in acct.vaults.items():
                vt = state.vault_types[tid]
                price = oracle.get(vt.spec.price_key)
                if price is None:
                    continue
                if vault_unsafe(v, vt, price):
                    unsafe.append((aid, tid))
        auctions = [state.debt.auctions[i] for i in sorted(state.debt.auctions)]
        self._unsafe = len(unsafe)
        for k in self.keepers:
            send_time = (block + k.latency_blocks) * bt
            gas = self.network.gas_at(send_time)
            bid = gas.level(self.spec.gas_bid)
            offered = min(bid, k.gas_cap_wei)
            cost = self.spec.gas_limit * offered / 1e18 * token
            land = self.network.landing_block(offered, send_time)
            capped = bid > k.gas_cap_wei
            acct = state.accounts[k.id]
            go = _Round(
                self, k, block, offered, land, capped, acct.balances.get(self.settle, 0) - k.committed
            )

            # sell won collateral at the external price (recycles the capital; no gas model)
            if self.spec.sell_collateral:
                for asset, amount in sorted(acct.balances.items()):
                    if asset == self.settle or amount <= 0 or ("sell", asset) in k.pending:
                        continue
                    j = self.col.get(asset)
                    if j is None:
                        continue
                    proceeds = amount * int(external_w[j]) // WAD
                    proceeds -= proceeds % self.settle_unit
                    at = block + 1 + k.latency_blocks
                    if at >= self.n_blocks:
                        continue
                    for cmd in (c.Withdraw(k.id, asset, amount), c.Deposit(k.id, self.settle, proceeds)):
                        self.seq += 1
                        self.queue[at].append(
                            VaultTx("sell", k.id, cmd, block, at, 0, 0, 0, self.seq, ("sell", asset))
                        )
                    k.pending[("sell", asset)] = 0
                    self.sold_collateral[asset] += amount
                    self.sale_proceeds += proceeds

            # barks
            if k.barks:
                for aid, tid in unsafe:
                    if go.sent >= self.spec.max_per_block:
                        break
                    key = ("bark", aid, tid)
                    if key in k.pending or aid == k.id:
                        continue
                    gain = self._bark_gain(k, engine, aid, tid, oracle, external_w)
                    if gain is None:
                        continue
                    if not bark_profitable(gain, cost, k.profit_threshold):
                        k.stats.declined_unprofitable += 1
                        continue
                    go("bark", c.Bark(aid, tid, k.id), key)

            # auctions
            for a in auctions:
                if go.sent >= self.spec.max_per_block:
                    break
                vt_spec = state.vault_types[a.vault_type].spec
                j = self.col[vt_spec.price_key]
                ext_w = int(external_w[j])
                cfg = vt_spec.disposal
                if isinstance(cfg, DutchAuction):
                    self._dutch(k, a, cfg, vt_spec, now, ext_w, oracle, cost, go.free, go)
                elif isinstance(cfg, EnglishAuction):
                    self._english(k, a, cfg, now, ext_w, cost, go.free, go)

    def _valuation(self, k: VaultKeeper, ext_w: int) -> int:
        return valuation(ext_w, k.discount)

    def _bark_gain(
        self,
        k: VaultKeeper,
        engine: Engine,
        aid: str,
        tid: str,
        oracle: dict[str, int],
        external_w: Sequence[int],
    ) -> float | None:
        state = engine.state
        vt = state.vault_types[tid]
        v = state.accounts[aid].vaults[tid]
        ext_w = int(external_w[self.col[vt.spec.price_key]])
        due = v.art * vt.rate  # rad
        cfg = vt.spec.disposal
        if isinstance(cfg, DutchAuction):
            return dutch_bark_gain(v, vt, cfg)
        if isinstance(cfg, EnglishAuction):
            tab = ceil_div(due * vt.spec.chop, WAD * RAY)
            value = v.ink * ext_w // WAD
            pay = 0 if k.zero else min(tab, v.ink * self._valuation(k, ext_w) // WAD)
            return (value - pay) / WAD
        assert isinstance(cfg, FixedDiscount)
        price = oracle[vt.spec.price_key]
        sp = spot(price, vt.spec.mat)
        debt = ceil_div(due, RAY)
        repay, seize = fixed_discount_amounts(cfg, v.ink, debt, price, (v.ink * sp, due), 0)
        if repay > engine.state.accounts[k.id].balances.get(self.settle, 0) - k.committed:
            k.stats.declined_capital += 1
            return None
        return (seize * ext_w // WAD - repay) / WAD

    def _dutch(
        self,
        k: VaultKeeper,
        a: Auction,
        cfg: DutchAuction,
        spec: VaultTypeSpec,
        now: int,
        ext_w: int,
        oracle: dict[str, int],
        cost: float,
        free: int,
        go: _Round,
    ) -> None:
        done, price = dutch_price(a, cfg, now)
        if done:
            key = ("redo", a.id)
            if key in k.pending:
                return
            gain = dutch_redo_gain(a, spec, cfg, oracle.get(spec.price_key, 0))
            if redo_profitable(gain, cost, k.profit_threshold):
                go("redo", c.RedoAuction(a.id, k.id), key)
            return
        key = ("take", a.id)
        if key in k.pending or price <= 0:
            return
        t = dutch_take(a, price, ext_w, k.discount, free, cost, k.profit_threshold)
        if t.decision == "capital":
            k.stats.declined_capital += 1
        elif t.decision == "unprofitable":
            k.stats.declined_unprofitable += 1
        elif t.decision == "send":
            go("take", c.TakeAuction(a.id, t.amount, t.max_price, k.id), key, t.paid)

    def _english(
        self,
        k: VaultKeeper,
        a: Auction,
        cfg: EnglishAuction,
        now: int,
        ext_w: int,
        cost: float,
        free: int,
        go: _Round,
    ) -> None:
        st = english_state(True, a.bid, a.tab, bool(a.guy), a.tic, a.end, now)
        if st is EnglishState.FINISHED:
            if a.guy == k.id and ("deal", a.id) not in k.pending:
                go("deal", c.Deal(a.id, k.id), ("deal", a.id))
            return
        key = ("bid", a.id)
        if a.guy == k.id or key in k.pending:
            return
        val = self._valuation(k, ext_w)
        value = a.lot * ext_w // WAD
        if st is EnglishState.EXPIRED:
            if (k.zero or a.lot * val // WAD > 0) and ("tick", a.id) not in k.pending:
                go("tick", c.Tick(a.id, k.id), ("tick", a.id))
            return
        if k.zero:
            if st is EnglishState.OPEN:
                go("tend", c.Tend(a.id, k.id, a.lot, 0), key)
            return
        if st is EnglishState.DENT:
            lot = ceil_div(a.tab * WAD, val) if val else a.lot
            if not (lot < a.lot and cfg.beg * lot <= a.lot * WAD):
                return
            if free < a.tab:
                k.stats.declined_capital += 1
                return
            if (lot * ext_w // WAD - a.tab) / WAD - cost < k.profit_threshold:
                k.stats.declined_unprofitable += 1
                return
            go("dent", c.Dent(a.id, k.id, lot, a.tab), key, a.tab)
            return
        # OPEN or TEND: bid the valuation, capped at tab
        bid = min(a.tab, a.lot * val // WAD)
        if bid < a.tab:
            bid -= bid % self.settle_unit
        if bid <= 0 or (a.guy and not (bid > a.bid and (bid * WAD >= cfg.beg * a.bid or bid == a.tab))):
            return
        if free < bid:
            k.stats.declined_capital += 1
            return
        if (value - bid) / WAD - cost < k.profit_threshold:
            k.stats.declined_unprofitable += 1
            return
        go("tend", c.Tend(a.id, k.id, a.lot, bid), key, bid)

    def row(self, engine: Engine) -> dict[str, Any]:
        """Timeseries columns of this block (``vault_*``)."""
        state = engine.state
        under = sum(ceil_div(a.debt, RAY) for a in state.debt.auctions.values())
        debt = sum(ceil_div(vt.art * vt.rate, RAY) for vt in state.vault_types.values())
        records = self.log.auctions.values()
        return {
            "vault_debt": debt / WAD,
            "vaults_unsafe": self._unsafe,
            "auctions_open": len(state.debt.auctions),
            "debt_under_auction": under / WAD,
            "vault_bad_debt": sum(r.bad_debt + r.incentives_minted for r in records) / WAD,
            "zero_bid_wins": sum(1 for r in records if r.zero_bid_win),
            "vault_keeper_txs": self._txs,
            "vault_keeper_failed": self._failed,
        }

    # -- end of path ----------------------------------------------------------------------------

    def unrealised(self, engine: Engine, external_w: Sequence[int]) -> tuple[int, int, int]:
        """At the end: ``(shortfall, debt under auction, unsafe vaults)`` where shortfall (WAD) is
        ``Σ max(0, debt − collateral × external)`` over open auctions and vaults with debt."""
        state = engine.state
        shortfall = under = 0
        for a in state.debt.auctions.values():
            vt = state.vault_types[a.vault_type]
            ext_w = int(external_w[self.col[vt.spec.price_key]])
            left = ceil_div(a.debt, RAY)
            under += left
            shortfall += max(0, left - a.bid - a.lot * ext_w // WAD)
        unsafe = 0
        oracle = {key: p for key, (p, _) in state.prices.items()}
        for aid in self.owner_ids:
            for tid, v in state.accounts[aid].vaults.items():
                vt = state.vault_types[tid]
                if not v.art:
                    continue
                ext_w = int(external_w[self.col[vt.spec.price_key]])
                debt = ceil_div(v.art * vt.rate, RAY)
                shortfall += max(0, debt - v.ink * ext_w // WAD)
                price = oracle.get(vt.spec.price_key, 0)
                if v.ink * spot(price, vt.spec.mat) < v.art * vt.rate:
                    unsafe += 1
        return shortfall, under, unsafe
