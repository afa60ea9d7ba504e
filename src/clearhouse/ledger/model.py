"""The ledger's state: assets, perpetual markets, accounts, positions and protocol pools.

All quantities are integers: amounts, prices and values in WAD, the funding index in RAY. Account and
market objects are mutable but are only ever changed on a per-transaction clone (see
:mod:`clearhouse.ledger.unit_of_work`), so a failing transaction leaves the committed state untouched.
"""

from __future__ import annotations

from collections.abc import Container, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NoReturn, Protocol

import msgspec

from clearhouse.ledger.contracts import ContractBook, ContractPosition
from clearhouse.ledger.errors import InvalidParameters
from clearhouse.ledger.fixedpoint import RAY, WAD, check_non_negative, check_positive
from clearhouse.ledger.margin_models import AnyMarginModel, FixedMargin
from clearhouse.liquidation.perp import LiquidationConfig
from clearhouse.liquidation.stability_pool import SpDeposit, StabilityPoolState
from clearhouse.liquidation.vault import AaveLiquidation, AnyDisposal, DutchAuction, StabilityPool
from clearhouse.oracle.feed import OracleFeed
from clearhouse.oracle.mark import MarkPrice
from clearhouse.steward.state import StewardState


class SignedLedger(Protocol):
    """What the ledger itself reads of a signed ledger's auth state (the value is a
    ``clearhouse.mechanisms.signing.admission.LedgerAuth``; the ledger does not import that layer)."""

    @property
    def chain_id(self) -> str: ...

    @property
    def require_signatures(self) -> bool: ...

    def root(self) -> bytes: ...

#: Seconds in the funding period that rates are quoted for (8 hours, as most perp venues).
DEFAULT_FUNDING_PERIOD = 8 * 3600


class AssetSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A collateral asset. Amounts are WAD whatever ``decimals`` is; an amount finer than the token's
    own precision (``10**(18 - decimals)``) is refused at the boundary."""

    id: str
    decimals: int = 18
    #: Collateral factor in WAD: the share of the asset's value that counts as margin (1e18 = 100%).
    haircut: int = WAD

    def validate(self) -> None:
        if not self.id or not self.id.isascii() or not self.id.replace("-", "").replace("_", "").isalnum():
            raise InvalidParameters(f"asset id {self.id!r} must be a non-empty ASCII identifier")
        if not 0 <= self.decimals <= 18:
            raise InvalidParameters(f"asset {self.id}: decimals must be in [0, 18], got {self.decimals}")
        check_non_negative(self.haircut, f"asset {self.id} haircut")
        if self.haircut > WAD:
            raise InvalidParameters(f"asset {self.id}: haircut {self.haircut} exceeds 1.0 (WAD)")

    @property
    def unit(self) -> int:
        """Smallest representable amount of this asset in WAD units."""
        unit: int = 10 ** (18 - self.decimals)
        return unit


class MarketSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Contract specification and risk parameters of a perpetual future. Fractions are WAD."""

    id: str
    #: Price key whose oracle price is the market's index price (e.g. ``"ETH"``).
    oracle: str
    initial_margin: int
    maintenance_margin: int
    taker_fee: int = 0
    maker_fee: int = 0
    #: Close-out penalty as a fraction of the notional closed.
    liquidation_fee: int = 0
    #: Share of the penalty paid to the liquidator; the rest goes to the insurance fund.
    liquidator_share: int = WAD // 2
    #: Size granularity in base units (WAD); trade sizes must be multiples of it.
    step_size: int = 1
    funding_period: int = DEFAULT_FUNDING_PERIOD
    #: Interest component of the funding rate per funding period (WAD).
    funding_interest: int = 0
    #: |rate| per period <= clamp_factor x (initial - maintenance) (dYdX v4 uses 6.0).
    funding_clamp_factor: int = 6 * WAD
    #: How initial/maintenance fractions are chosen per position (see margin_models).
    margin_model: AnyMarginModel = FixedMargin()
    #: Drift's guard: with a TWAP price key set, close-outs are refused while the index and the TWAP
    #: diverge by more than ``max_twap_divergence`` (WAD fraction of the TWAP).
    twap_oracle: str | None = None
    max_twap_divergence: int = WAD // 10
    #: Liquidation mechanism: sizing, prices, disposal path and loss waterfall (``Liquidate``).
    liquidation: LiquidationConfig = LiquidationConfig()
    #: Fills must satisfy ``|price - index| <= price_band x index`` (WAD fraction; ledger.price_band).
    price_band: int = WAD // 20
    #: Fills enter the mark only once a funding interval's traded notional (settlement WAD) reaches
    #: this; below it the venue leg of the mark is the index (oracle.mark.interval_venue_price).
    mark_min_notional: int = 10_000 * WAD

    def validate(self) -> None:
        name = f"market {self.id}"
        if not self.id or not self.id.isascii():
            raise InvalidParameters(f"market id {self.id!r} must be a non-empty ASCII identifier")
        if not self.oracle:
            raise InvalidParameters(f"{name}: oracle price key must be set")
        for fname in ("initial_margin", "maintenance_margin"):
            value = getattr(self, fname)
            check_positive(value, f"{name} {fname}")
            if value > WAD:
                raise InvalidParameters(f"{name}: {fname} {value} must be in (0, 1] (WAD)")
        if self.maintenance_margin >= self.initial_margin:
            raise InvalidParameters(
                f"{name}: maintenance_margin {self.maintenance_margin} must be below "
                f"initial_margin {self.initial_margin}"
            )
        for fname in ("taker_fee", "maker_fee", "liquidation_fee", "liquidator_share"):
            value = getattr(self, fname)
            check_non_negative(value, f"{name} {fname}")
            if value > WAD:
                raise InvalidParameters(f"{name}: {fname} {value} must be in [0, 1] (WAD)")
        if self.liquidation_fee >= self.maintenance_margin:
            raise InvalidParameters(
                f"{name}: liquidation_fee {self.liquidation_fee} must be below maintenance_margin"
            )
        check_positive(self.step_size, f"{name} step_size")
        check_positive(self.funding_period, f"{name} funding_period")
        check_non_negative(self.funding_clamp_factor, f"{name} funding_clamp_factor")
        self.margin_model.validate(self.id, self.initial_margin, self.maintenance_margin)
        check_positive(self.max_twap_divergence, f"{name} max_twap_divergence")
        self.liquidation.validate(self.id)
        check_positive(self.price_band, f"{name} price_band")
        if self.price_band > WAD:
            raise InvalidParameters(f"{name}: price_band {self.price_band} must be in (0, 1] (WAD)")
        check_non_negative(self.mark_min_notional, f"{name} mark_min_notional")


@dataclass(slots=True)
class MarketState:
    """A listed market: its spec plus the state that changes block by block."""

    spec: MarketSpec
    #: Cumulative funding per unit of base, in quote RAY; longs pay ``size * (index - snapshot)``.
    funding_index: int = 0
    last_funding_time: int = 0
    #: Last traded price (WAD) and its time; the premium leg of the funding rate while the trade
    #: falls inside the interval being accrued.
    last_trade_price: int = 0
    last_trade_time: int = 0
    #: Sum of long sizes (= sum of short sizes).
    open_interest: int = 0
    #: Counterpart of realised PnL and settled funding. ``sum(entry_value) + pnl_pool`` equals the
    #: funding settled so far net of what is still unsettled; adding each position's unsettled
    #: ``size x (index - snapshot)`` gives the rounding surplus, which is >= 0.
    pnl_pool: int = 0
    #: Volatility multiplier (WAD, 1.0 = calm) set by the risk controller; read by the volatility model.
    vol_multiplier: int = WAD
    #: Mark price (median of oracle + basis EMA, venue price, external median) and its estimator.
    #: Only funding accrual mutates the estimator, on a copy, so transaction clones share it.
    mark_price: int = 0
    mark: MarkPrice = field(default_factory=MarkPrice)
    #: Constant-product pool the market can sell liquidations into (``ConfigureAmm``): virtual base
    #: and quote reserves (price = quote / base) and the account holding the pool's inventory.
    amm_account: str = ""
    amm_base: int = 0
    amm_quote: int = 0
    #: Fills since the last funding accrual: sum of ``size x price`` (WAD^2) and of sizes (WAD), the
    #: notional-weighted venue price of the next accrual (oracle.mark.interval_venue_price).
    interval_value: int = 0
    interval_size: int = 0

    def clone(self) -> MarketState:
        return MarketState(
            self.spec,
            self.funding_index,
            self.last_funding_time,
            self.last_trade_price,
            self.last_trade_time,
            self.open_interest,
            self.pnl_pool,
            self.vol_multiplier,
            self.mark_price,
            self.mark,
            self.amm_account,
            self.amm_base,
            self.amm_quote,
            self.interval_value,
            self.interval_size,
        )


@dataclass(slots=True)
class Position:
    """A perpetual position. ``entry_value`` is the signed cost basis in quote (size x entry price)."""

    market: str
    size: int = 0
    entry_value: int = 0
    funding_snapshot: int = 0
    isolated: bool = False
    #: Collateral held by an isolated position (settlement asset); always 0 for cross positions.
    margin: int = 0
    #: Time of the last (partial) liquidation, for the stepwise cooldown.
    last_liquidation: int = 0

    def clone(self) -> Position:
        return Position(
            self.market,
            self.size,
            self.entry_value,
            self.funding_snapshot,
            self.isolated,
            self.margin,
            self.last_liquidation,
        )

    @property
    def is_empty(self) -> bool:
        return self.size == 0 and self.margin == 0 and self.entry_value == 0


class VaultTypeSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A vault type (Maker ``ilk``, e.g. ``ETH-A``): collateral, risk parameters and disposal path.

    Units follow dss where dss has them: ``mat`` and ``duty`` are RAY, ``chop`` WAD. Amounts of the
    settlement asset (``dust``, ``line``) are WAD like every ledger amount (dss keeps them in rad)."""

    id: str
    #: Asset locked as collateral.
    collateral: str
    #: Liquidation ratio (RAY, >= 1): safe while ``ink x price / mat >= art x rate``.
    mat: int
    #: Debt ceiling of the type (settlement WAD): ``Art x rate <= line``.
    line: int
    #: Price key of the collateral ("" = the collateral asset id).
    oracle: str = ""
    #: Liquidation penalty (WAD, >= 1): the auction must raise ``debt x chop``.
    chop: int = WAD
    #: Smallest non-zero debt a vault may carry (settlement WAD).
    dust: int = 0
    #: Stability fee per second (RAY, >= 1), compounded into ``rate`` (jug.drip / vat.fold).
    duty: int = RAY
    disposal: AnyDisposal = DutchAuction(tail=3600, tau=3600)

    @property
    def price_key(self) -> str:
        return self.oracle or self.collateral

    def validate(self) -> None:
        name = f"vault type {self.id}"
        if not self.id or not self.id.isascii():
            raise InvalidParameters(f"vault type id {self.id!r} must be a non-empty ASCII identifier")
        if not self.collateral:
            raise InvalidParameters(f"{name}: collateral must be set")
        if type(self.mat) is not int or self.mat < RAY:
            raise InvalidParameters(f"{name}: mat {self.mat} must be >= 1.0 (RAY)")
        if type(self.chop) is not int or self.chop < WAD:
            raise InvalidParameters(f"{name}: chop {self.chop} must be >= 1.0 (WAD)")
        if type(self.duty) is not int or self.duty < RAY:
            raise InvalidParameters(f"{name}: duty {self.duty} must be >= 1.0 (RAY)")
        check_non_negative(self.line, f"{name} line")
        check_non_negative(self.dust, f"{name} dust")
        self.disposal.validate(f"{name} disposal")
        for path in (self.disposal, getattr(self.disposal, "fallback", None)):
            if isinstance(path, AaveLiquidation) and path.liquidation_threshold * self.mat < 10**4 * RAY:
                # Aave's ltv <= liquidationThreshold, with mat as 1 / ltv: a vault drawn safe has HF >= 1.
                raise InvalidParameters(
                    f"{name}: Aave liquidation threshold {path.liquidation_threshold} bps is below 1 / mat"
                )
        if isinstance(self.disposal, StabilityPool) and isinstance(self.disposal.fallback, StabilityPool):
            raise InvalidParameters(f"{name}: a stability pool cannot fall back to itself")


@dataclass(slots=True)
class VaultType:
    """A listed vault type: its spec plus the accumulated rate (``fold``) and totals."""

    spec: VaultTypeSpec
    #: Cumulative debt per unit of normalised debt (RAY); starts at 1.
    rate: int = RAY
    #: Time the rate was last accrued to (jug ``rho``).
    rho: int = 0
    #: Total normalised debt of all vaults of the type (vat ``Art``).
    art: int = 0
    #: Debt + penalty of this type under Dutch auction (dog ``dirt``, rad).
    dirt: int = 0

    def clone(self) -> VaultType:
        return VaultType(self.spec, self.rate, self.rho, self.art, self.dirt)


class Vault(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One account's debt position of one vault type (vat ``urn``): ``ink`` collateral locked (WAD) and
    ``art`` normalised debt (WAD); the debt is ``art x rate`` (rad)."""

    ink: int = 0
    art: int = 0


class Auction(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An open auction of a vault's collateral. It holds ``lot`` collateral (and, English, the high
    ``bid`` in escrow) until it ends.

    Dutch (clip.sol units): ``tab`` rad still to raise, ``top`` ray, ``tic`` start time.
    English (flip.sol): ``tab`` settlement WAD to raise, ``bid`` WAD held, ``guy`` the high bidder
    (``""`` = none), ``tic`` the bid's expiry (0 = no bid), ``end`` the auction's end.
    ``debt`` (rad) is the vault debt not yet recovered; what is left of it when the auction ends is
    bad debt."""

    id: int
    kind: str
    vault_type: str
    #: Account whose vault was liquidated (receives leftover collateral).
    owner: str
    lot: int
    tab: int
    debt: int
    tic: int
    top: int = 0
    end: int = 0
    bid: int = 0
    guy: str = ""


@dataclass(slots=True)
class DebtState:
    """Globals of the debt positions: the Dog's ``Hole``/``Dirt`` and the open auctions."""

    #: Most debt + penalty under Dutch auction at once (rad); 0 = no limit.
    hole: int = 0
    #: Debt + penalty under Dutch auction now (rad).
    dirt: int = 0
    #: Ids are 1, 2, ... in kick order.
    kicks: int = 0
    auctions: dict[int, Auction] = field(default_factory=dict)

    def clone(self) -> DebtState:
        return DebtState(self.hole, self.dirt, self.kicks, dict(self.auctions))


class _NoEntries(dict):  # type: ignore[type-arg]
    """The one shared, read-only empty mapping of every account without vaults or dated contracts.

    Most accounts never hold either; an empty dict per account and per clone cost 2 x 64 bytes each
    (12 MiB at 100k accounts). A ``dict`` subclass, so readers (``get``, ``in``, iteration, ``==``,
    encoders) see an ordinary empty dict; every write raises ``TypeError`` instead of changing what
    every account shares: writers go through :meth:`Account.own_vaults` / :meth:`Account.own_contracts`.
    """

    __slots__ = ()

    def _refuse(self, *args: object, **kwargs: object) -> NoReturn:
        raise TypeError("shared empty mapping: write through Account.own_vaults() / own_contracts()")

    __setitem__ = __delitem__ = pop = popitem = clear = update = setdefault = __ior__ = _refuse

    def __copy__(self) -> _NoEntries:
        return self

    def __deepcopy__(self, memo: object) -> _NoEntries:
        return self

    def __reduce__(self) -> str:
        return "NO_ENTRIES"  # pickles as a reference to the shared instance


#: The shared empty ``vaults`` / ``contracts`` of accounts that hold none.
NO_ENTRIES: Mapping[str, Any] = _NoEntries()


def _no_entries() -> Mapping[str, Any]:
    return NO_ENTRIES


@dataclass(slots=True)
class Account:
    """An account owned by a public key: cross collateral per asset and positions per market.

    ``vaults`` and ``contracts`` are read-only views that are the shared :data:`NO_ENTRIES` while
    empty; change them only through :meth:`own_vaults` / :meth:`own_contracts` (on a transaction's
    clone, like every field)."""

    id: str
    owner: str
    #: Position of the account's leaf in the state tree (order of creation).
    index: int
    balances: dict[str, int] = field(default_factory=dict)
    positions: dict[str, Position] = field(default_factory=dict)
    #: Debt positions (Maker vaults) per vault type: separate buckets, never part of perp margin.
    vaults: Mapping[str, Vault] = field(default_factory=_no_entries)
    #: Stability pool deposit and its snapshots (Liquity), if any.
    sp: SpDeposit | None = None
    #: Dated futures and options (instrument id -> position; mechanisms.options), beside the perps.
    contracts: Mapping[str, ContractPosition] = field(default_factory=_no_entries)

    def own_vaults(self) -> dict[str, Vault]:
        """This account's own, writable ``vaults`` dict (replacing the shared empty one)."""
        vaults = self.vaults
        if type(vaults) is not dict:
            vaults = self.vaults = dict(vaults)
        return vaults

    def own_contracts(self) -> dict[str, ContractPosition]:
        """This account's own, writable ``contracts`` dict (replacing the shared empty one)."""
        contracts = self.contracts
        if type(contracts) is not dict:
            contracts = self.contracts = dict(contracts)
        return contracts

    def clone(self) -> Account:
        # Empty vaults / contracts (the shared NO_ENTRIES, or a dict emptied by a pop) become the
        # shared NO_ENTRIES: a clone never shares a writable dict with its original.
        return Account(
            self.id,
            self.owner,
            self.index,
            dict(self.balances),
            {m: p.clone() for m, p in self.positions.items()},
            dict(self.vaults) if self.vaults else NO_ENTRIES,
            self.sp,
            dict(self.contracts) if self.contracts else NO_ENTRIES,
        )

    def clone_except(self, markets: Container[str]) -> Account:
        """:meth:`clone` without the positions in ``markets``: for a close-out that drops them (it reads
        the originals, which it never writes), so they are not copied only to be deleted."""
        return Account(
            self.id,
            self.owner,
            self.index,
            dict(self.balances),
            {m: p.clone() for m, p in self.positions.items() if m not in markets},
            dict(self.vaults) if self.vaults else NO_ENTRIES,
            self.sp,
            dict(self.contracts) if self.contracts else NO_ENTRIES,
        )


@dataclass(slots=True)
class Pools:
    """Protocol-owned balances per asset and the loss waterfall's state."""

    insurance: dict[str, int] = field(default_factory=dict)
    fees: dict[str, int] = field(default_factory=dict)
    #: Deficit no stage absorbed, per asset (still visible as negative account balances).
    bad_debt: dict[str, int] = field(default_factory=dict)
    #: Backstop pool (after the insurance fund in the waterfall), per asset.
    backstop: dict[str, int] = field(default_factory=dict)
    #: Insurance paid out in the current block (for the per-block cap) and the block it refers to.
    insurance_used_height: int = 0
    insurance_used: int = 0
    #: Withdrawals are refused up to and including this height (set after socialised loss).
    withdrawals_gated_until: int = 0

    def clone(self) -> Pools:
        return Pools(
            dict(self.insurance),
            dict(self.fees),
            dict(self.bad_debt),
            dict(self.backstop),
            self.insurance_used_height,
            self.insurance_used,
            self.withdrawals_gated_until,
        )


class LedgerParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Ledger-wide parameters."""

    #: Asset in which perps settle PnL, fees and funding; valued at exactly 1 in margin.
    settlement_asset: str = "USDC"
    #: A price older than this (seconds) is stale: no new risk, no withdrawals, no close-outs.
    max_price_age: int = 3600
    #: L2 sequencer sentinel (Aave v3): for this many seconds after the sequencer comes back up, only
    #: accounts with health below ``grace_health_threshold`` may be closed out and nothing may add
    #: risk. 0 disables the sentinel.
    sequencer_grace: int = 0
    grace_health_threshold: int = 95 * WAD // 100
    #: Step 4 of every block: "off"; "report" (emit BelowMaintenance for each account the scan and the
    #: exact check find, for keepers); "backstop" (close them out against ``backstop_liquidator``).
    enforcement: Literal["off", "report", "backstop"] = "off"
    backstop_liquidator: str = ""
    #: Cap on close-outs per block, permissionless ones included (dYdX: 50).
    max_liquidations_per_block: int = 50

    def validate(self) -> None:
        if not self.settlement_asset:
            raise InvalidParameters("settlement_asset must be set")
        check_positive(self.max_price_age, "max_price_age")
        check_non_negative(self.sequencer_grace, "sequencer_grace")
        check_positive(self.grace_health_threshold, "grace_health_threshold")
        check_positive(self.max_liquidations_per_block, "max_liquidations_per_block")
        if self.enforcement == "backstop" and not self.backstop_liquidator:
            raise InvalidParameters("enforcement = 'backstop' needs backstop_liquidator")


@dataclass(slots=True)
class LedgerState:
    """The whole ledger. Iteration for hashing and reports always goes through sorted ids."""

    params: LedgerParams = field(default_factory=LedgerParams)
    height: int = 0
    time: int = 0
    assets: dict[str, AssetSpec] = field(default_factory=dict)
    markets: dict[str, MarketState] = field(default_factory=dict)
    accounts: dict[str, Account] = field(default_factory=dict)
    #: Price key -> (price WAD, time it was set).
    prices: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: Price key -> oracle feed aggregating source reports. A key with a feed takes its price only
    #: from the feed, and the feed's state decides what the engine may do (oracle.rules).
    oracles: dict[str, OracleFeed] = field(default_factory=dict)
    pools: Pools = field(default_factory=Pools)
    #: Running totals per asset, the left-hand side of the conservation identity.
    deposited: dict[str, int] = field(default_factory=dict)
    withdrawn: dict[str, int] = field(default_factory=dict)
    #: Vault types by id, the debt globals, and the settlement asset minted (Draw, stability fees,
    #: keeper incentives without cover) and burned (Wipe, auction proceeds repaying debt).
    vault_types: dict[str, VaultType] = field(default_factory=dict)
    debt: DebtState = field(default_factory=DebtState)
    drawn: dict[str, int] = field(default_factory=dict)
    repaid: dict[str, int] = field(default_factory=dict)
    #: Sequencer status as last reported by a block, and since when it has been up.
    sequencer_up: bool = True
    sequencer_up_since: int = 0
    #: Liquity-style stability pool (settlement deposits, collateral gains, running P and S).
    stability_pool: StabilityPoolState = field(default_factory=StabilityPoolState)
    #: Signed transactions and authorization (``ConfigureAuth``; mechanisms.signing): chain id,
    #: replay rules, nonce windows, ownership registry, fill book. ``None`` = a trusted-driver ledger (lab,
    #: unsigned demo), whose state root is then exactly as before auth existed.
    auth: SignedLedger | None = None
    #: The steward: controller/guardian keys, guardrails, pending proposals (clearhouse.steward and
    #: mechanisms.steward).
    steward: StewardState = field(default_factory=StewardState)
    #: Dated futures and options: listings, scenario tables, settlement prints (mechanisms.options).
    #: Hashed into the state root only once used.
    contracts: ContractBook = field(default_factory=ContractBook)
