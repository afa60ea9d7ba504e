"""Arbitrageurs: agents outside the engine that trade AMM pools back toward the external price.

After every block each arbitrageur reads a watched market's pool (``amm_base``, ``amm_quote`` of the
engine state, exact integers) and the external (path) price ``E`` of the market's oracle asset. When
the pool price ``P = quote / base`` is away from ``E`` by more than its ``threshold`` plus the hedge
``fee``, it sends a ``SwapAmm`` that moves the pool to the edge of the no-arbitrage band,
``E × (1 + fee)`` from above (it sells base into the pool) or ``E × (1 − fee)`` from below (it buys):
for a constant-product pool ``B × Q = k`` the target base reserve is ``B* = sqrt(k / target)``.

* Size is capped by its capital: the position after the swap must fit its free margin at the
  market's initial margin (× 0.95), and by ``max_trade`` (notional).
* Expected profit ``quote − x × E × (1 + fee)`` for a sale of ``x`` (``x × E × (1 − fee) − quote`` for a
  purchase) minus gas ``gas_limit × offered × gas token price`` must reach ``min_profit``.
* The swap carries ``limit_price = E × (1 ± fee)``: if another arbitrageur (or a liquidation) moved
  the pool first the engine refuses it (``slippage_exceeded``) and it pays ``failed_gas_limit``.
* Network: it offers ``min(bid percentile, gas cap)`` and lands per the network's inclusion tiers
  after ``latency_blocks`` (priced out: never). One swap per pool in flight per arbitrageur.
* With ``unwind`` the position is closed against the market maker at the oracle price in the next
  block (the hedge on the external market), which frees its margin for the next swap.

Stats: swaps sent / succeeded / failed / never included, volume (notional at ``E``), realised edge
``Σ (E × size − quote)`` at the landing block's external price, hedge fees and gas.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from clearhouse.core.errors import ClearhouseError
from clearhouse.core.fixedpoint import WAD
from clearhouse.lab.network import GWEI, NetworkModel
from clearhouse.lab.population import arbitrageur_id, to_units
from clearhouse.lab.scenario import MARKET_MAKER, Scenario, per_keeper
from clearhouse.ledger import commands as c
from clearhouse.ledger import events as ev
from clearhouse.ledger.engine import Engine
from clearhouse.ledger.model import MarketSpec
from clearhouse.liquidation.perp import amm_quote

ArbTxKind = Literal["swap", "unwind"]


def pool_price(base: int, quote: int) -> int:
    """The pool's marginal price (WAD), ``quote / base`` rounded down."""
    return quote * WAD // base if base > 0 else 0


@dataclass(slots=True)
class ArbTx:
    kind: ArbTxKind
    sender: str
    market: str
    command: c.AnyCommand
    sent_block: int
    land_block: int
    gas_price: int
    seq: int


@dataclass
class ArbStats:
    sent: int = 0
    succeeded: int = 0
    failed: int = 0
    never_included: int = 0
    capped_bids: int = 0
    declined_unprofitable: int = 0
    declined_capital: int = 0
    buys: int = 0
    sells: int = 0
    #: Σ |size| × external at landing (settlement units).
    volume: float = 0.0
    #: Σ (external × size − quote) over landed swaps: what the pool gave away against the external price.
    edge: float = 0.0
    fees: float = 0.0
    gas_cost: float = 0.0

    @property
    def profit(self) -> float:
        return self.edge - self.fees - self.gas_cost


@dataclass
class Arbitrageur:
    id: str
    latency_blocks: int
    gas_cap_wei: int
    threshold: float
    stats: ArbStats = field(default_factory=ArbStats)
    #: Markets with a swap / an unwind in flight.
    pending: set[str] = field(default_factory=set)
    unwinding: set[str] = field(default_factory=set)


class Arbitrageurs:
    """The arbitrageurs of a path and the queue of their transactions."""

    def __init__(self, scenario: Scenario, n_blocks: int) -> None:
        spec = scenario.spec.arbitrageurs
        self.spec = spec
        self.scenario = scenario
        self.network: NetworkModel = scenario.network
        self.n_blocks = n_blocks
        self.markets: dict[str, MarketSpec] = {m.id: m for m in scenario.markets}
        pooled = sorted(p.market for p in scenario.amms)
        self.watched = [m for m in pooled if not spec.markets or m in spec.markets]
        self.col = {a: j for j, a in enumerate(scenario.priced_assets)}
        self.gas_token = scenario.spec.keepers.gas_token
        self.gas_token_fixed = float(scenario.spec.keepers.gas_token_price or 0.0)
        self.fee = to_units(spec.fee, 18)
        self.arbs = [
            Arbitrageur(
                arbitrageur_id(i),
                int(per_keeper(spec.latency_blocks, i)),
                to_units(float(per_keeper(spec.gas_cap_gwei, i)), 9) // GWEI,
                float(per_keeper(spec.threshold, i)),
            )
            for i in range(spec.count)
        ]
        self.queue: dict[int, list[ArbTx]] = defaultdict(list)
        self.seq = 0
        self._txs = 0
        self._failed = 0

    def _token(self, external: np.ndarray) -> float:
        j = self.col.get(self.gas_token)
        return float(external[j]) if j is not None else self.gas_token_fixed

    def due(self, block: int) -> list[ArbTx]:
        txs = self.queue.pop(block, [])
        txs.sort(key=lambda t: (-t.gas_price, t.seq))
        return txs

    def settle_results(
        self, txs: list[ArbTx], rejected: set[int], events: Sequence[ev.Event], external: np.ndarray
    ) -> None:
        """Book the block's arbitrage transactions (``rejected`` indexes into ``txs``)."""
        by_id = {a.id: a for a in self.arbs}
        token = self._token(external)
        swaps = {(e.account, e.market): e for e in events if isinstance(e, ev.AmmSwapped)}
        self._txs = sum(1 for tx in txs if tx.kind == "swap")
        self._failed = sum(1 for i, tx in enumerate(txs) if tx.kind == "swap" and i in rejected)
        for i, tx in enumerate(txs):
            a = by_id[tx.sender]
            if tx.kind == "unwind":
                a.unwinding.discard(tx.market)
                continue
            a.pending.discard(tx.market)
            ok = i not in rejected
            gas = self.spec.gas_limit if ok else self.spec.failed_gas_limit
            a.stats.gas_cost += gas * tx.gas_price / 1e18 * token
            if not ok:
                a.stats.failed += 1
                continue
            a.stats.succeeded += 1
            e = swaps.get((tx.sender, tx.market))
            if e is None:
                continue
            ext = float(external[self.col[self.markets[tx.market].oracle]])
            notional = abs(e.size) / WAD * ext
            a.stats.volume += notional
            a.stats.fees += notional * self.spec.fee
            if e.size > 0:
                a.stats.buys += 1
                a.stats.edge += notional - e.quote / WAD
            else:
                a.stats.sells += 1
                a.stats.edge += e.quote / WAD - notional

    def observe(self, block: int, engine: Engine, external_w: Sequence[int], external: np.ndarray) -> None:
        """Decide after ``block`` from the pools in the engine state and the external prices."""
        state = engine.state
        bt = self.scenario.block_time
        token = self._token(external)
        spec = self.spec
        for a in self.arbs:
            acct = state.accounts.get(a.id)
            if acct is None:
                continue
            if spec.unwind:
                for mid, pos in sorted(acct.positions.items()):
                    if not pos.size or pos.isolated or mid in a.unwinding or mid in a.pending:
                        continue
                    entry = state.prices.get(self.markets[mid].oracle)
                    if entry is None or block + 1 >= self.n_blocks:
                        continue
                    size = abs(pos.size)
                    cmd: c.AnyCommand = (
                        c.Trade(
                            mid, buyer=MARKET_MAKER, seller=a.id, size=size, price=entry[0], taker="seller"
                        )
                        if pos.size > 0
                        else c.Trade(
                            mid, buyer=a.id, seller=MARKET_MAKER, size=size, price=entry[0], taker="buyer"
                        )
                    )
                    self.seq += 1
                    self.queue[block + 1].append(
                        ArbTx("unwind", a.id, mid, cmd, block, block + 1, 0, self.seq)
                    )
                    a.unwinding.add(mid)
            send_time = (block + a.latency_blocks) * bt
            gas = self.network.gas_at(send_time)
            bid = gas.level(spec.gas_bid)
            offered = min(bid, a.gas_cap_wei)
            cost = spec.gas_limit * offered / 1e18 * token
            try:
                margin = engine.margin(a.id)
                free = margin.equity - margin.initial
            except ClearhouseError:
                free = 0
            for mid in self.watched:
                if mid in a.pending or mid in a.unwinding:
                    continue
                m = state.markets[mid]
                if not m.amm_account or m.amm_base <= 0:
                    continue
                spec_m = self.markets[mid]
                ext = int(external_w[self.col[spec_m.oracle]])
                if ext <= 0:
                    continue
                price = pool_price(m.amm_base, m.amm_quote)
                gap = price / ext - 1.0
                if abs(gap) <= a.threshold + spec.fee:
                    continue
                sell = gap > 0  # the pool is rich: sell base into it
                target = ext * (WAD + self.fee) // WAD if sell else ext * (WAD - self.fee) // WAD
                if target <= 0:
                    continue
                k = m.amm_base * m.amm_quote
                b_star = math.isqrt(k * WAD // target)
                x = b_star - m.amm_base if sell else m.amm_base - b_star
                # capital: the position must fit the free margin at initial margin (x 0.95)
                imf = spec_m.initial_margin
                cap_size = max(free, 0) * 95 // 100 * WAD // imf * WAD // ext
                if spec.max_trade is not None:
                    cap_size = min(cap_size, to_units(spec.max_trade, 18) * WAD // ext)
                x = min(x, cap_size)
                x -= x % spec_m.step_size
                if x <= 0:
                    a.stats.declined_capital += 1
                    continue
                size = -x if sell else x
                try:
                    quote = amm_quote(m.amm_base, m.amm_quote, size)
                except ClearhouseError:
                    continue
                value = x * ext // WAD
                edge = (quote - value) if sell else (value - quote)
                expected = (edge - value * self.fee // WAD) / WAD - cost
                if expected < spec.min_profit:
                    a.stats.declined_unprofitable += 1
                    continue
                if bid > a.gas_cap_wei:
                    a.stats.capped_bids += 1
                land = self.network.landing_block(offered, send_time)
                a.stats.sent += 1
                self.seq += 1
                if land is None or land >= self.n_blocks:
                    a.stats.never_included += 1
                    continue
                swap = c.SwapAmm(a.id, mid, size, max(target, 1))
                self.queue[max(land, block + 1)].append(
                    ArbTx("swap", a.id, mid, swap, block, max(land, block + 1), offered, self.seq)
                )
                a.pending.add(mid)
                free -= value * imf // WAD

    def row(self) -> dict[str, int]:
        return {"arb_txs": self._txs, "arb_failed": self._failed}

    def summary(self) -> dict[str, object]:
        s = [a.stats for a in self.arbs]

        def r(x: float) -> float:
            return float(round(x, 6))

        return {
            "count": len(self.arbs),
            "sent": sum(x.sent for x in s),
            "succeeded": sum(x.succeeded for x in s),
            "failed": sum(x.failed for x in s),
            "never_included": sum(x.never_included for x in s),
            "capped_bids": sum(x.capped_bids for x in s),
            "declined_unprofitable": sum(x.declined_unprofitable for x in s),
            "declined_capital": sum(x.declined_capital for x in s),
            "buys": sum(x.buys for x in s),
            "sells": sum(x.sells for x in s),
            "volume": r(sum(x.volume for x in s)),
            "edge": r(sum(x.edge for x in s)),
            "fees": r(sum(x.fees for x in s)),
            "gas_cost": r(sum(x.gas_cost for x in s)),
            "profit": r(sum(x.profit for x in s)),
        }
