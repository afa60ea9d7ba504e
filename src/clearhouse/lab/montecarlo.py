"""The Monte Carlo set of the controller backtest: synthetic price models over one default market.

The built-in incidents are single recorded crashes; a controller tuned to them can still lose on the paths
that did not happen. The Monte Carlo set runs the same market, population and keepers under three price
models of :mod:`clearhouse.lab.prices` (GBM, Merton jump diffusion, GARCH(1,1)), each on ``n`` seeds, so
bad debt and liquidations have a real distribution across paths (VaR, ES, LaR) and the controller and the
static variants see exactly the same paths (same seed -> same price path, gas and population).

Sizing keeps one path short (24 h of one-minute blocks, 300 accounts: about half a second of CPU per path,
a little more with the controller); ``docs/controller.md`` gives the measured runtime.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from clearhouse.lab.scenario.load import set_path
from clearhouse.lab.scenario.model import Scenario
from clearhouse.lab.scenario.validate import validate

#: Seed of the first path of every model (path ``i`` uses ``MC_SEED + i``).
MC_SEED = 20_240_101
#: Annualised volatility of the diffusion part (100 %: about 5 % a day, a volatile crypto asset).
VOL = 1.0
#: Per-minute GARCH variance matching ``VOL`` unconditionally: ``VOL² / minutes per year``.
_MINUTE_VAR = VOL**2 / (365 * 24 * 60)
_ALPHA, _BETA = 0.10, 0.85

#: Price tables of the set: name -> the ``[prices]`` table (one asset, ETH at 2000).
PRICE_MODELS: dict[str, dict[str, Any]] = {
    "gbm": {"model": "gbm", "assets": ["ETH"], "s0": 2000.0, "vol": VOL},
    # two jumps a day on average, log-size 0 +- 20 % (symmetric: both sides are hit; the compensating
    # drift is -4 % a day); a gap beyond the margin puts the most levered side under water before any
    # keeper can act, the tail the diffusion models lack
    "merton": {
        "model": "merton", "assets": ["ETH"], "s0": 2000.0, "vol": VOL,
        "jump_intensity": 730.0, "jump_mean": 0.0, "jump_std": 0.20,
    },
    # volatility clustering; starts at four times the long-run variance (a turbulent regime)
    "garch": {
        "model": "garch", "assets": ["ETH"], "s0": 2000.0,
        "omega": _MINUTE_VAR * (1.0 - _ALPHA - _BETA), "alpha": _ALPHA, "beta": _BETA,
        "h0": 4.0 * _MINUTE_VAR, "step_seconds": 60,
    },
}

#: The market, population and keepers every model runs over (a CRV-like default book on ETH).
BASE: dict[str, Any] = {
    "seed": MC_SEED,
    "horizon": "24h",
    "block_time": 60,
    "ledger": {
        "settlement_asset": "USDC", "max_price_age": 3600, "enforcement": "keepers",
        "insurance_fund": 100_000,
    },
    "assets": {
        "USDC": {"decimals": 6},
        "ETH": {
            "decimals": 18, "haircut": 0.8, "source_noise": 0.001,
            "oracle": {
                "sources": ["binance", "okx", "bybit"], "report_max_age": 300,
                "aggregator": {"name": "median"},
                "policies": [{"name": "deviation_heartbeat", "deviation": "0.005", "heartbeat": 3600}],
            },
        },
    },
    "markets": {
        "ETH-PERP": {
            "oracle": "ETH", "initial_margin": 0.10, "maintenance_margin": 0.05, "taker_fee": 0.0005,
            "maker_fee": 0.0002, "liquidation_fee": 0.01, "step_size": 0.001,
        }
    },
    "population": {
        "accounts": 300, "long_share": 0.5, "isolated_share": 0.1,
        "collateral": {"dist": "lognormal", "median": 5000, "sigma": 1.0, "min": 100, "max": 300000},
        "leverage": {"dist": "lognormal", "median": 6.0, "sigma": 0.5, "min": 1.5, "max": 20.0},
        "add_margin": {"share": 0.3, "threshold": 1.3, "target": 2.0, "capital": 1.0, "latency_blocks": 5},
    },
    "keepers": {
        "count": 3, "latency_blocks": [1, 2, 5], "gas_cap_gwei": 500, "capital": 2_000_000,
        "profit_threshold": [1.0, 1.0, -10.0], "gas_token": "ETH",
    },
    "network": {"gas": {"source": "parametric", "base_gwei": 15.0}},
}


def mc_table(model: str) -> dict[str, Any]:
    """The raw scenario table ``mc_<model>`` (a fresh copy: callers may apply overrides to it)."""
    if model not in PRICE_MODELS:
        raise ValueError(f"unknown Monte Carlo model {model!r}; models: {', '.join(PRICE_MODELS)}")
    table = copy.deepcopy(BASE)
    table["name"] = f"mc_{model}"
    table["description"] = f"Monte Carlo: {model} price paths over the default ETH-PERP book"
    table["prices"] = copy.deepcopy(PRICE_MODELS[model])
    return table


def mc_scenario(model: str, overrides: Mapping[str, Any] | None = None) -> Scenario:
    """Validate ``mc_<model>`` with ``overrides`` (dotted paths, as for ``load_scenario``)."""
    table = mc_table(model)
    for dotted, value in (overrides or {}).items():
        set_path(table, dotted, value)
    return validate(table, f"mc_{model}.toml")


__all__ = ["BASE", "MC_SEED", "PRICE_MODELS", "mc_scenario", "mc_table"]
