"""Engine objects built from scenario tables: liquidation configs, margin models, AMM pools, disposals."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import msgspec

from clearhouse.core.fixedpoint import RAY, WAD
from clearhouse.lab.scenario.model import BACKSTOP, MARKET_MAKER, AmmPool, ScenarioError, guard, msgspec_path
from clearhouse.lab.scenario.schema import AmmTable, DisposalTable
from clearhouse.lab.scenario.units import fixed, parse_duration, wad
from clearhouse.ledger.margin_models import AnyMarginModel
from clearhouse.liquidation.perp import LiquidationConfig
from clearhouse.liquidation.vault import AnyDisposal, DutchAuction, EnglishAuction, FixedDiscount

#: LiquidationConfig fields given as human numbers (converted to WAD).
_LIQUIDATION_WAD_FIELDS = (
    "bankruptcy_adjustment",
    "spread_to_mmr",
    "max_fee",
    "buffer",
    "dust_notional",
    "full_below_health",
    "step_notional",
    "step_fraction",
    "vault_health",
    "insurance_cap_per_block",
    "insurance_cap_per_account",
)
#: Account ids the lab uses for its own agents; a pool account may not take one.
_RESERVED_PREFIXES = ("acct-", "keeper-", "vault-", "vkeeper-", "arb-")


def liquidation_config(table: Mapping[str, Any], file: str, field: str, market: str) -> LiquidationConfig:
    data = dict(table)
    for key in _LIQUIDATION_WAD_FIELDS:
        if key in data:
            v = data[key]
            if isinstance(v, bool) or not isinstance(v, int | float | str):
                raise ScenarioError(file, f"{field}.{key}", f"must be a number, got {v!r}")
            data[key] = wad(v, file, f"{field}.{key}")
    try:
        cfg = msgspec.convert(data, LiquidationConfig)
    except msgspec.ValidationError as exc:
        sub, msg = msgspec_path(exc)
        raise ScenarioError(file, f"{field}.{sub}:" if sub else f"{field}:", msg) from None
    guard(file, field, lambda: cfg.validate(market))
    return cfg


def amm_pool(mid: str, t: AmmTable, file: str, field: str) -> AmmPool:
    account = t.account or f"amm-{mid}"
    if account in (MARKET_MAKER, BACKSTOP, "zero-bidder") or account.startswith(_RESERVED_PREFIXES):
        raise ScenarioError(file, f"{field}.account", f"{account!r} is reserved for the lab's own accounts")
    if t.base_reserve is None and t.quote_reserve is None:
        raise ScenarioError(file, f"{field}.base_reserve", "or quote_reserve is required (the pool's depth)")
    for name in ("base_reserve", "quote_reserve", "capital"):
        v = getattr(t, name)
        if v is not None and not (math.isfinite(v) and v > 0):
            raise ScenarioError(file, f"{field}.{name}", f"must be finite and > 0, got {v}")
    return AmmPool(mid, account, t.base_reserve, t.quote_reserve, t.capital)


def margin_model(table: Mapping[str, Any], file: str, field: str) -> AnyMarginModel:
    data: dict[str, Any] = dict(table) if table else {"name": "fixed"}
    name = data.get("name", "fixed")
    data["name"] = name
    if name == "tiered":
        tiers = data.get("tiers")
        if not isinstance(tiers, list):
            raise ScenarioError(file, f"{field}.tiers", "must be a list of [notional, initial, maintenance]")
        conv = []
        for i, tier in enumerate(tiers):
            if not isinstance(tier, list) or len(tier) != 3:
                raise ScenarioError(file, f"{field}.tiers[{i}]", "must be [notional, initial, maintenance]")
            conv.append([wad(v, file, f"{field}.tiers[{i}]") for v in tier])
        data["tiers"] = conv
    for key in ("lower_cap", "upper_cap", "max_initial"):
        if key in data:
            data[key] = wad(data[key], file, f"{field}.{key}")
    model: AnyMarginModel = guard(
        file,
        field,
        lambda: msgspec.convert(data, AnyMarginModel),
    )
    return model


_DISPOSAL_FIELDS: dict[str, tuple[str, ...]] = {
    "english_auction": ("beg", "ttl", "tau"),
    "dutch_auction": ("buf", "tail", "cusp", "chip", "tip", "hole", "curve", "tau", "step", "cut"),
    "fixed_discount": ("bonus", "close_factor", "full_below_health"),
}
_ALL_DISPOSAL_FIELDS = sorted({f for fs in _DISPOSAL_FIELDS.values() for f in fs})


def disposal(d: DisposalTable, file: str, field: str) -> AnyDisposal:
    for name in _ALL_DISPOSAL_FIELDS:
        if getattr(d, name) is not None and name not in _DISPOSAL_FIELDS[d.kind]:
            raise ScenarioError(
                file, f"{field}.{name}", f"is not a parameter of {d.kind} ({list(_DISPOSAL_FIELDS[d.kind])})"
            )

    def dur(name: str) -> int | None:
        v = getattr(d, name)
        return None if v is None else parse_duration(v, file, f"{field}.{name}")

    out: AnyDisposal
    if d.kind == "english_auction":
        kw: dict[str, Any] = {}
        if d.beg is not None:
            kw["beg"] = fixed(d.beg, WAD, file, f"{field}.beg", lo=1.0)
        for name in ("ttl", "tau"):
            v = dur(name)
            if v is not None:
                kw[name] = v
        out = EnglishAuction(**kw)
    elif d.kind == "dutch_auction":
        tail = dur("tail")
        if tail is None:
            raise ScenarioError(file, f"{field}.tail", "is required for dutch_auction")
        curve = d.curve or "linear"
        kw = {"tail": tail, "curve": curve}
        if d.buf is not None:
            kw["buf"] = fixed(d.buf, RAY, file, f"{field}.buf", lo=1.0)
        if d.cusp is not None:
            if not 0 <= d.cusp < 1:
                raise ScenarioError(file, f"{field}.cusp", f"must be in [0, 1), got {d.cusp}")
            kw["cusp"] = fixed(d.cusp, RAY, file, f"{field}.cusp")
        for name, scale in (("chip", WAD), ("tip", WAD), ("hole", WAD)):
            v = getattr(d, name)
            if v is not None:
                kw[name] = fixed(v, scale, file, f"{field}.{name}")
        if curve == "linear":
            tau = dur("tau")
            if tau is None:
                raise ScenarioError(file, f"{field}.tau", "is required for curve = 'linear'")
            kw["tau"] = tau
        else:
            if d.tau is not None:
                raise ScenarioError(file, f"{field}.tau", f"is only used by curve = 'linear', not {curve!r}")
            if d.cut is None:
                raise ScenarioError(file, f"{field}.cut", f"is required for curve = {curve!r}")
            if not 0 < d.cut <= 1:
                raise ScenarioError(file, f"{field}.cut", f"must be in (0, 1], got {d.cut}")
            kw["cut"] = fixed(d.cut, RAY, file, f"{field}.cut")
            if curve == "stairstep":
                step = dur("step")
                if step is None:
                    raise ScenarioError(file, f"{field}.step", "is required for curve = 'stairstep'")
                kw["step"] = step
            elif d.step is not None:
                raise ScenarioError(file, f"{field}.step", "is only used by curve = 'stairstep'")
        out = DutchAuction(**kw)
    else:
        kw = {}
        for name in ("bonus", "close_factor", "full_below_health"):
            v = getattr(d, name)
            if v is not None:
                kw[name] = fixed(v, WAD, file, f"{field}.{name}")
        if d.bonus is not None and not d.bonus < 1:
            raise ScenarioError(file, f"{field}.bonus", f"must be < 1, got {d.bonus}")
        if d.close_factor is not None and not 0 < d.close_factor <= 1:
            raise ScenarioError(file, f"{field}.close_factor", f"must be in (0, 1], got {d.close_factor}")
        out = FixedDiscount(**kw)
    guard(file, field, lambda: out.validate(field))
    return out
