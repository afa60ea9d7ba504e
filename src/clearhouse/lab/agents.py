"""Agents outside the engine: keepers that close out accounts for profit, traders that add margin.

Agents *observe* the engine after each block (exact integer views: the candidates the scan nominates,
confirmed with :func:`clearhouse.ledger.enforcement.confirm`, and ``engine.margin``), *decide*, and
*send* transactions. A transaction lands in a later block chosen by the network model
(:meth:`clearhouse.lab.network.NetworkModel.landing_block`, from the gas price offered), or never
when it is priced out until the end of the gas data. Inside a block transactions are ordered by gas
price offered (highest first), then by send order: the first keeper included wins a close-out and
the others' transactions fail (the engine rejects them) and still pay gas.

Keeper economics, per close-out (settlement units, floats; the engine's own numbers are exact):
``expected reward = min(Σ notional × liquidation_fee, max(equity, 0)) × liquidator_share``,
``gas cost = gas_limit × gas price offered / 1e18 × gas token price``; a keeper sends only when the
reward minus the gas cost reaches its ``profit_threshold``, when its gas cap allows a bid, and when
its free margin covers the initial margin of what it takes over.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Literal

import msgspec

from clearhouse.core.errors import ClearhouseError
from clearhouse.core.fixedpoint import WAD
from clearhouse.lab.network import GWEI, NetworkModel
from clearhouse.lab.population import Trader, keeper_id, to_units
from clearhouse.lab.scenario import MARKET_MAKER, Scenario, per_keeper
from clearhouse.ledger import commands as c
from clearhouse.ledger.enforcement import Confirmed, Target
from clearhouse.ledger.engine import Engine
from clearhouse.ledger.model import MarketSpec
from clearhouse.risk.keeper_decision import decide, expected_reward, target_terms

TxKind = Literal["closeout", "unwind", "topup"]


@dataclass(slots=True)
class PendingTx:
    """A transaction on its way to a block."""

    kind: TxKind
    sender: str
    command: c.AnyCommand
    #: Path block index it was sent at and lands in.
    sent_block: int
    land_block: int
    #: Gas price offered (wei) and gas it uses if it succeeds / reverts.
    gas_price: int
    gas_limit: int
    failed_gas_limit: int
    seq: int
    target: Target | None = None
    expected_reward: float = 0.0


@dataclass
class KeeperStats:
    sent: int = 0
    succeeded: int = 0
    failed: int = 0
    #: Transactions that can never land (priced out until the gas data end) or land after the horizon.
    never_included: int = 0
    declined_unprofitable: int = 0
    #: Close-outs sent at the keeper's gas cap because its bid percentile was above the cap.
    capped_bids: int = 0
    declined_capital: int = 0
    rewards: float = 0.0
    gas_cost: float = 0.0

    @property
    def profit(self) -> float:
        return self.rewards - self.gas_cost


@dataclass
class Keeper:
    index: int
    id: str
    latency_blocks: int
    gas_cap_wei: int
    profit_threshold: float
    stats: KeeperStats = field(default_factory=KeeperStats)
    #: Targets with a transaction in flight.
    pending: set[Target] = field(default_factory=set)
    unwinding: set[str] = field(default_factory=set)


def _price_lookup(engine: Engine) -> dict[str, int]:
    return {k: p for k, (p, _) in engine.state.prices.items()}


class Agents:
    """All agents of a path and the queue of their transactions."""

    def __init__(self, scenario: Scenario, traders: list[Trader], n_blocks: int) -> None:
        self.scenario = scenario
        self.network: NetworkModel = scenario.network
        self.n_blocks = n_blocks
        spec = scenario.spec.keepers
        self.spec = spec
        self.keepers = [
            Keeper(
                i,
                keeper_id(i),
                int(per_keeper(spec.latency_blocks, i)),
                to_units(float(per_keeper(spec.gas_cap_gwei, i)), 9) // GWEI,
                float(per_keeper(spec.profit_threshold, i)),
            )
            for i in range(spec.count)
        ]
        self.markets: dict[str, MarketSpec] = {m.id: m for m in scenario.markets}
        #: Markets with a [liquidation] table: keepers send ``Liquidate`` (the market's disposal);
        #: the others the simple ``CloseOut``.
        self.liquidate = {mid for mid, t in scenario.spec.markets.items() if t.liquidation is not None}
        self.settle = scenario.params.settlement_asset
        self.settle_unit = next(a.unit for a in scenario.assets if a.id == self.settle)
        self.queue: dict[int, list[PendingTx]] = defaultdict(list)
        self.seq = 0
        am = scenario.spec.population.add_margin
        self.add_margin = am
        self.responsive = {t.id: t for t in traders if t.responsive}
        self.topup_left = {t.id: t.topup_capital for t in traders if t.responsive}
        self.topup_pending: set[str] = set()
        self.topups_sent = 0
        self.topups_landed = 0
        self.topup_volume = 0.0
        self.never_included_topups = 0

    # -- helpers --------------------------------------------------------------------------------

    def _send(self, tx: PendingTx) -> bool:
        if tx.land_block >= self.n_blocks:
            return False
        self.queue[tx.land_block].append(tx)
        return True

    def gas_price(self, block: int, level: str = "p60") -> int:
        t = block * self.scenario.block_time
        return self.network.gas_at(t).level(level)  # type: ignore[arg-type]

    def gas_token_price(self, prices: dict[str, int]) -> float:
        token = self.spec.gas_token
        if token in prices:
            return prices[token] / WAD
        return float(self.spec.gas_token_price or 0.0)

    def due(self, block: int) -> list[PendingTx]:
        """Transactions landing in ``block``, in inclusion order (gas price desc, then send order)."""
        txs = self.queue.pop(block, [])
        txs.sort(key=lambda t: (-t.gas_price, t.seq))
        return txs

    # -- results --------------------------------------------------------------------------------

    def settle_results(
        self, txs: list[PendingTx], rejected: set[int], rewards: dict[tuple[str, str], int], gas_token: float
    ) -> None:
        """Book the outcome of the block's agent transactions (``rejected`` = their tx indexes)."""
        by_id = {k.id: k for k in self.keepers}
        for i, tx in enumerate(txs):
            ok = i not in rejected
            if tx.kind == "closeout":
                k = by_id[tx.sender]
                assert tx.target is not None
                k.pending.discard(tx.target)
                gas = tx.gas_limit if ok else tx.failed_gas_limit
                k.stats.gas_cost += gas * tx.gas_price / 1e18 * gas_token
                if ok:
                    k.stats.succeeded += 1
                    k.stats.rewards += rewards.get((tx.sender, tx.target[0]), 0) / WAD
                else:
                    k.stats.failed += 1
            elif tx.kind == "unwind":
                by_id[tx.sender].unwinding.discard(tx.command.market)  # type: ignore[union-attr]
            elif tx.kind == "topup" and isinstance(tx.command, c.Deposit):
                self.topup_pending.discard(tx.sender)
                if ok:
                    self.topups_landed += 1
                    self.topup_volume += tx.command.amount / WAD

    # -- decisions ------------------------------------------------------------------------------

    def observe(
        self,
        block: int,
        engine: Engine,
        confirmed: list[Confirmed],
        warned: list[tuple[str, str | None, float, float]],
    ) -> None:
        """Decide after ``block``: keepers on the confirmed targets, traders on the warnings
        ``(account, isolated market or None, equity, maintenance)`` below their threshold."""
        prices = _price_lookup(engine)
        if self.keepers:
            self._requote_unwinds(block + 1, prices)
            self._keepers(block, engine, confirmed, prices)
        if self.responsive:
            self._traders(block, warned)

    def _requote_unwinds(self, land_block: int, prices: dict[str, int]) -> None:
        """Re-price the unwinds landing in ``land_block`` at the latest index: an unwind is a market
        order against the market maker, and a fill quoted at an index several blocks old can fall
        outside the market's price band (``PriceOutOfBand``) after a fast move."""
        for tx in self.queue.get(land_block, ()):
            trade = tx.command
            if tx.kind == "unwind" and isinstance(trade, c.Trade):
                price = prices.get(self.markets[trade.market].oracle)
                if price is not None and price != trade.price:
                    tx.command = msgspec.structs.replace(trade, price=price)

    def _target_terms(self, engine: Engine, target: Target, prices: dict[str, int]) -> tuple[int, int, int]:
        """(notional, penalty due, initial margin of the positions) of a target, exact ints."""
        t = target_terms(engine.state.accounts[target[0]], target, self.markets, prices)
        return t.notional, t.penalty, t.initial_margin

    def _keepers(
        self, block: int, engine: Engine, confirmed: list[Confirmed], prices: dict[str, int]
    ) -> None:
        spec = self.spec
        gas_token = self.gas_token_price(prices)
        bt = self.scenario.block_time
        for k in self.keepers:
            send_time = (block + k.latency_blocks) * bt
            # unwind positions taken over, at the current index price, against the market maker
            if spec.unwind:
                acct = engine.state.accounts.get(k.id)
                for mid, pos in sorted(acct.positions.items()) if acct else ():
                    if not pos.size or pos.isolated or mid in k.unwinding:
                        continue
                    price = prices.get(self.markets[mid].oracle)
                    if price is None:
                        continue
                    size = abs(pos.size)
                    cmd = (
                        c.Trade(mid, buyer=MARKET_MAKER, seller=k.id, size=size, price=price, taker="seller")
                        if pos.size > 0
                        else c.Trade(
                            mid, buyer=k.id, seller=MARKET_MAKER, size=size, price=price, taker="buyer"
                        )
                    )
                    self.seq += 1
                    unwind_at = block + 1 + k.latency_blocks
                    tx = PendingTx(
                        "unwind", k.id, cmd, block, unwind_at, self.gas_price(block), 0, 0, self.seq
                    )
                    if self._send(tx):
                        k.unwinding.add(mid)
            if not confirmed:
                continue
            try:
                margin = engine.margin(k.id)
                free = margin.equity - margin.initial
            except ClearhouseError:
                free = 0
            committed = 0
            sent = 0
            gas = self.network.gas_at(send_time)
            bid = gas.level(spec.gas_bid)
            offered = min(bid, k.gas_cap_wei)
            for conf in confirmed:
                if sent >= spec.max_per_block:
                    break
                target = conf.target
                if target in k.pending or target[0] == k.id:
                    continue
                notional, penalty, im = self._target_terms(engine, target, prices)
                if notional == 0:
                    continue
                first = sorted(
                    m
                    for m, p in engine.state.accounts[target[0]].positions.items()
                    if p.size and ((target[1] is None and not p.isolated) or m == target[1])
                )[0]
                share = self.markets[first].liquidator_share
                reward = expected_reward(penalty, conf.equity, share)
                liquidate = first in self.liquidate
                if liquidate and self.markets[first].liquidation.disposal == "amm":
                    # the pool takes the position; the caller only triggers and earns nothing
                    reward, im = 0.0, 0
                cost = spec.gas_limit * offered / 1e18 * gas_token
                decision = decide(reward, cost, k.profit_threshold, free, committed, im)
                if decision == "unprofitable":
                    k.stats.declined_unprofitable += 1
                    continue
                if decision == "capital":
                    k.stats.declined_capital += 1
                    continue
                if bid > k.gas_cap_wei:
                    # the keeper bids its cap; below every inclusion tier it waits for gas to fall
                    k.stats.capped_bids += 1
                land = self.network.landing_block(offered, send_time)
                self.seq += 1
                closeout: c.AnyCommand = (
                    c.Liquidate(target[0], liquidator=k.id, market=target[1])
                    if liquidate
                    else c.CloseOut(target[0], liquidator=k.id, market=target[1])
                )
                k.stats.sent += 1
                if land is None or land >= self.n_blocks:
                    k.stats.never_included += 1
                    k.pending.add(target)  # stuck in the mempool: the keeper does not resend
                    continue
                tx = PendingTx(
                    "closeout",
                    k.id,
                    closeout,
                    block,
                    max(land, block + 1),
                    offered,
                    spec.gas_limit,
                    spec.failed_gas_limit,
                    self.seq,
                    target,
                    reward,
                )
                self._send(tx)
                k.pending.add(target)
                committed += im
                sent += 1

    def _traders(self, block: int, warned: list[tuple[str, str | None, float, float]]) -> None:
        am = self.add_margin
        bt = self.scenario.block_time
        for aid, mid, equity, maintenance in warned:
            if aid not in self.responsive or aid in self.topup_pending:
                continue
            left = self.topup_left[aid]
            if left <= 0 or maintenance <= 0:
                continue
            if equity >= am.threshold * maintenance:
                continue
            need = min(am.target * maintenance - equity, left)
            amount = to_units(need, 18, "up")
            amount += -amount % self.settle_unit
            if amount <= 0:
                continue
            send_time = (block + am.latency_blocks) * bt
            if am.gas_cap_gwei is None:
                land: int | None = self.network.next_block(send_time)
                gas_price = self.gas_price(block)
            else:
                gas_price = min(self.network.gas_at(send_time).p60, to_units(am.gas_cap_gwei, 9) // GWEI)
                land = self.network.landing_block(gas_price, send_time)
            self.topups_sent += 1
            self.topup_left[aid] = left - amount / WAD
            if land is None or land >= self.n_blocks:
                self.never_included_topups += 1
                continue
            land = max(land, block + 1)
            self.seq += 1
            self._send(
                PendingTx(
                    "topup", aid, c.Deposit(aid, self.settle, amount), block, land, gas_price, 0, 0, self.seq
                )
            )
            if mid is not None:
                self.seq += 1
                self._send(
                    PendingTx(
                        "topup",
                        aid,
                        c.TransferMargin(aid, mid, amount),
                        block,
                        land,
                        gas_price,
                        0,
                        0,
                        self.seq,
                    )
                )
            self.topup_pending.add(aid)
