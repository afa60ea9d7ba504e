"""Deterministic population: accounts, deposits and opening trades against a market maker.

Everything is drawn from ``numpy.random.Generator(PCG64([seed, 1]))`` in a fixed order, so a
scenario and a seed always give the same accounts. Floats (collateral values, leverages) become WAD
integers exactly once, through :class:`decimal.Decimal` of the float's shortest repr, rounded to the
asset's decimals (deposits) or down to the market's step size (trade sizes). The result is a plan of
engine commands; the runner puts them into the first blocks.

The traders are defined independently of the margin rules: collateral, market, side and the
leverage a trader *wants* (``population.leverage``, or ``population.leverage_by_market``) are drawn
before any margin parameter is read, so a sweep over initial margin compares the same traders. The
rules act only when a position opens: a trader whose wanted notional needs more than its
collateral (after haircuts) covers at the market's initial margin plus the taker fee opens at the
largest size that does (99 % of it, for rounding and price noise), and :attr:`Trader.capped` says so.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_UP, Decimal

import numpy as np

from clearhouse.core.fixedpoint import WAD, to_fixed
from clearhouse.lab.scenario import BACKSTOP, MARKET_MAKER, AmmPool, DistSpec, Scenario, per_keeper
from clearhouse.ledger import commands as c
from clearhouse.ledger.model import AssetSpec, MarketSpec

_ROUNDING = {"down": ROUND_DOWN, "up": ROUND_UP, "half_even": ROUND_HALF_EVEN}


def to_units(value: float, decimals: int = 18, rounding: str = "half_even") -> int:
    """A non-negative float as WAD, rounded to ``decimals`` places (exact integer conversion)."""
    q = Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-decimals), rounding=_ROUNDING[rounding])
    return to_fixed(q)


def owner_key(account: str) -> str:
    return hashlib.sha256(f"clearhouse-lab/{account}".encode()).hexdigest()


def keeper_id(i: int) -> str:
    return f"keeper-{i:02d}"


def arbitrageur_id(i: int) -> str:
    return f"arb-{i:02d}"


def amm_reserves(pool: AmmPool, price: float, base_decimals: int = 18) -> tuple[int, int]:
    """``(base, quote)`` reserves (WAD) of a pool at the opening ``price``: the missing one of the
    declared depths makes the pool price equal ``price``."""
    if pool.base is not None:
        base = to_units(pool.base, base_decimals)
        quote = to_units(pool.quote if pool.quote is not None else pool.base * price, 18)
    else:
        assert pool.quote is not None
        quote = to_units(pool.quote, 18)
        base = to_units(pool.quote / price, base_decimals)
    return max(base, 1), max(quote, 1)


def draw(rng: np.random.Generator, d: DistSpec, n: int) -> np.ndarray:
    """``n`` draws of a :class:`DistSpec`, clipped to its bounds."""
    if d.dist == "fixed":
        assert d.value is not None
        return np.full(n, d.value, dtype=np.float64)
    if d.dist == "uniform":
        return rng.uniform(d.min, d.max, n)
    if d.dist == "loguniform":
        return np.exp(rng.uniform(np.log(d.min), np.log(d.max), n))
    median = d.median if d.median is not None else float(np.sqrt(d.min * d.max))
    return np.clip(median * np.exp(d.sigma * rng.standard_normal(n)), d.min, d.max)


@dataclass(frozen=True, slots=True)
class Trader:
    id: str
    market: str
    #: Signed size (WAD): > 0 long.
    size: int
    isolated: bool
    #: Collateral deposited per asset (WAD).
    deposits: dict[str, int]
    #: Settlement amount moved into the isolated position (0 for cross).
    isolated_margin: int
    #: Collateral value and notional at the opening prices (settlement units, floats for metrics).
    collateral_value: float
    notional: float
    #: Adds margin when warned, up to ``topup_capital`` settlement units over the run.
    responsive: bool
    topup_capital: float
    #: Leverage the trader wants (drawn without reading any margin parameter).
    leverage: float = 0.0
    #: The market's initial margin allowed less than ``leverage``: the position opened at the most allowed.
    capped: bool = False

    def profile(self) -> tuple[object, ...]:
        """Who the trader is, independent of the margin rules (a sweep compares these)."""
        return (
            self.id,
            self.market,
            self.size > 0,
            self.isolated,
            tuple(sorted(self.deposits.items())),
            self.collateral_value,
            self.leverage,
            self.responsive,
            self.topup_capital,
        )


@dataclass
class Population:
    traders: list[Trader]
    #: Block 1: governance, oracle feeds, accounts, insurance fund.
    setup: list[c.AnyCommand] = field(default_factory=list)
    #: Block 2: deposits (and isolated margin transfers come with the trades).
    deposits: list[c.AnyCommand] = field(default_factory=list)
    market_maker_capital: int = 0
    keeper_ids: list[str] = field(default_factory=list)

    def opening(self, prices: dict[str, int]) -> list[c.AnyCommand]:
        """The opening block's transactions at the given index prices (WAD, from the engine)."""
        return opening_trades(self.traders, prices, self._markets)

    _markets: dict[str, MarketSpec] = field(default_factory=dict)


def opening_trades(
    traders: list[Trader], prices: dict[str, int], markets: dict[str, MarketSpec]
) -> list[c.AnyCommand]:
    txs: list[c.AnyCommand] = []
    for t in traders:
        if t.size == 0:
            continue
        if t.isolated:
            txs.append(c.TransferMargin(t.id, t.market, t.isolated_margin))
        price = prices[markets[t.market].oracle]
        if t.size > 0:
            txs.append(
                c.Trade(t.market, buyer=t.id, seller=MARKET_MAKER, size=t.size, price=price, taker="buyer")
            )
        else:
            txs.append(
                c.Trade(t.market, buyer=MARKET_MAKER, seller=t.id, size=-t.size, price=price, taker="seller")
            )
    return txs


def build_population(scenario: Scenario, seed: int, p0: dict[str, float]) -> Population:
    """Draw the population of ``scenario`` for ``seed``; ``p0`` are the opening prices (floats)."""
    spec = scenario.spec
    pop = spec.population
    settle = scenario.params.settlement_asset
    rng = np.random.Generator(np.random.PCG64([seed, 1]))
    n = pop.accounts
    assets: dict[str, AssetSpec] = {a.id: a for a in scenario.assets}
    markets: dict[str, MarketSpec] = {m.id: m for m in scenario.markets}

    market_ids = sorted(markets)
    weights = np.array(
        [pop.markets.get(m, 0.0) if pop.markets else 1.0 for m in market_ids], dtype=np.float64
    )
    if n == 0:  # a vault-only scenario: no perp traders
        weights = np.ones(1)
        market_ids = [""]
    weights /= weights.sum()
    mix_assets = sorted(pop.collateral_mix) if pop.collateral_mix else [settle]
    mix = np.array([pop.collateral_mix.get(a, 0.0) if pop.collateral_mix else 1.0 for a in mix_assets])
    mix /= mix.sum()

    # draws, in a fixed order
    collateral = draw(rng, pop.collateral, n)
    leverage = draw(rng, pop.leverage, n)
    market_idx = rng.choice(len(market_ids), size=n, p=weights)
    is_long = rng.random(n) < pop.long_share
    isolated = rng.random(n) < pop.isolated_share
    responsive = rng.random(n) < pop.add_margin.share
    # per-market leverage from its own stream, so the draws above do not depend on the overrides
    lev_rng = np.random.Generator(np.random.PCG64([seed, 2]))
    for mid in sorted(pop.leverage_by_market):
        own = draw(lev_rng, pop.leverage_by_market[mid], n)
        if mid in market_ids:
            pick = market_idx == market_ids.index(mid)
            leverage[pick] = own[pick]

    traders: list[Trader] = []
    wanted_total = 0.0
    width = len(str(n - 1))
    for i in range(n):
        aid = f"acct-{i:0{width}d}"
        mid = market_ids[int(market_idx[i])]
        market = markets[mid]
        oracle_price = p0[market.oracle]
        value = float(collateral[i])
        deposits: dict[str, int] = {}
        haircut_value = 0.0
        if isolated[i]:
            amount = to_units(value, assets[settle].decimals)
            deposits[settle] = amount
            haircut_value = amount / WAD
        else:
            for a, share in zip(mix_assets, mix.tolist(), strict=True):
                if share <= 0:
                    continue
                price = 1.0 if a == settle else p0[a]
                amount = to_units(value * share / price, assets[a].decimals)
                if amount > 0:
                    deposits[a] = amount
                    haircut_value += amount / WAD * price * assets[a].haircut / WAD
        # the margin rules act here, at the opening, never on the draws above
        imf = market.initial_margin / WAD
        fee = market.taker_fee / WAD
        wanted = float(leverage[i]) * value
        allowed = 0.99 * haircut_value / (imf + fee)
        notional = min(wanted, allowed)
        wanted_total += wanted
        size = to_units(notional / oracle_price, 18, "down")
        size -= size % market.step_size
        if size == 0:
            size = market.step_size
        signed = size if is_long[i] else -size
        traders.append(
            Trader(
                id=aid,
                market=mid,
                size=signed,
                isolated=bool(isolated[i]),
                deposits=deposits,
                isolated_margin=deposits.get(settle, 0) if isolated[i] else 0,
                collateral_value=value,
                notional=size / WAD * oracle_price,
                responsive=bool(responsive[i]),
                topup_capital=value * pop.add_margin.capital if responsive[i] else 0.0,
                leverage=float(leverage[i]),
                capped=wanted > allowed,
            )
        )

    # the market maker's default capital is the wanted notional: it does not change with the rules
    mm_capital = pop.market_maker_capital if pop.market_maker_capital is not None else max(wanted_total, 1.0)
    mm_amount = to_units(mm_capital, assets[settle].decimals)

    setup: list[c.AnyCommand] = [
        c.SetLedgerParams(scenario.params),
        *(c.ListAsset(a) for a in scenario.assets),
        *(c.ConfigureOracle(scenario.feeds[a]) for a in sorted(scenario.feeds)),
        *(c.ListMarket(m) for m in scenario.markets),
    ]
    special = [MARKET_MAKER]
    keepers = [keeper_id(i) for i in range(spec.keepers.count)]
    special += keepers
    if spec.ledger.enforcement == "backstop":
        special.append(BACKSTOP)
    arbs = [arbitrageur_id(i) for i in range(spec.arbitrageurs.count)]
    special += [p.account for p in scenario.amms] + arbs
    setup += [c.OpenAccount(a, owner_key(a)) for a in special]
    setup += [c.OpenAccount(t.id, owner_key(t.id)) for t in traders]
    if spec.ledger.insurance_fund > 0:
        setup.append(
            c.DepositInsurance(settle, to_units(spec.ledger.insurance_fund, assets[settle].decimals))
        )

    funding: list[c.AnyCommand] = [c.Deposit(MARKET_MAKER, settle, mm_amount)]
    for pool in scenario.amms:
        base, quote = amm_reserves(pool, p0[markets[pool.market].oracle])
        setup.append(c.ConfigureAmm(pool.market, pool.account, base, quote))
        capital = pool.capital if pool.capital is not None else quote / WAD
        funding.append(c.Deposit(pool.account, settle, to_units(capital, assets[settle].decimals)))
    for i, a in enumerate(arbs):
        cap = float(per_keeper(spec.arbitrageurs.capital, i))
        if cap > 0:
            funding.append(c.Deposit(a, settle, to_units(cap, assets[settle].decimals)))
    for i, k in enumerate(keepers):
        cap = float(per_keeper(spec.keepers.capital, i))
        if cap > 0:
            funding.append(c.Deposit(k, settle, to_units(cap, assets[settle].decimals)))
    if spec.ledger.enforcement == "backstop":
        funding.append(
            c.Deposit(BACKSTOP, settle, to_units(spec.ledger.backstop_capital, assets[settle].decimals))
        )
    for t in traders:
        for a in sorted(t.deposits):
            funding.append(c.Deposit(t.id, a, t.deposits[a]))

    out = Population(traders, setup, funding, mm_amount, keepers)
    out._markets = markets
    return out
