"""A risk controller as a lab agent: configured like governance at set-up, then proposing and applying through
the steward's guarded transactions every block (``clearhouse simulate SCENARIO --controller NAME``).

The controller key is privileged like an oracle reporter: its transactions land in the next block, with no
gas auction (a real controller would pay priority fees; docs/controller.md). Its observations are what the
lab knows at that block: oracle prices, gas percentiles of the network model, open interest and the largest
position per market, the pool depth of AMM markets. Guardrails are :func:`default_guardrails` around the
scenario's own parameters, so the static scenario is the point the controller starts from.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

import msgspec
import numpy as np

from clearhouse.controller.agent import StewardAgent
from clearhouse.controller.base import Controller, Observation
from clearhouse.controller.congestion import CongestionAware
from clearhouse.controller.open_interest import OpenInterestLiquidity
from clearhouse.controller.oracle_bounds import OracleBounds
from clearhouse.controller.volatility import VolatilityTargeting
from clearhouse.ledger import commands as c
from clearhouse.ledger import events as ev
from clearhouse.ledger.engine import BlockResult, Engine
from clearhouse.ledger.fixedpoint import WAD
from clearhouse.ledger.model import MarketSpec
from clearhouse.steward.guardrails import Guardrail
from clearhouse.steward.state import StewardConfig

CONTROLLER_KEY = hashlib.sha256(b"clearhouse-lab/controller").hexdigest()
GUARDIAN_KEY = hashlib.sha256(b"clearhouse-lab/guardian").hexdigest()
#: Seconds between two applications to one parameter, and the life of a proposal, in the lab.
INTERVAL = 600
EXPIRY = 3600

Guarded = tuple[str, str, str, Guardrail]


def _relative(value: int, lower: int, upper: int, up: int, down: int) -> Guardrail:
    return Guardrail(
        lower=max(1, lower), upper=max(upper, value), max_up=up, max_down=down, relative=True,
        min_interval=INTERVAL, expiry=EXPIRY,
    )


def default_guardrails(name: str, spec: MarketSpec, profile: str = "default") -> list[Guarded]:
    """Guardrails the lab sets for controller ``name`` on market ``spec`` (all relative to the live value):
    margins within [1/2, 4] x the scenario's, +25 % / -10 % per 10 min; the penalty within [1/2, 4] x
    (below half the maintenance), +50 % / -25 %; oracle guards within [1 %, 25 %], +-25 %; OI caps within
    [1/10, 10] x, +-25 % (only for the open-interest margin model).

    Profile ``"conservative"``: margins never below the scenario's own, raised up to +50 % per step with no
    interval (``fast_direction = "up"``), lowered -10 % per 10 min."""
    m, out = spec.id, []
    quarter, tenth = WAD // 4, WAD // 10
    im, mm, fee = spec.initial_margin, spec.maintenance_margin, spec.liquidation_fee
    if name in ("volatility", "open_interest"):
        g = _relative(im, im // 2, min(4 * im, 9 * tenth), quarter, tenth)
        out.append(("market", m, "initial_margin", g))
    if name == "volatility":
        g = _relative(mm, mm // 2, min(4 * mm, 8 * tenth), quarter, tenth)
        out.append(("market", m, "maintenance_margin", g))
    if profile == "conservative":
        out = [
            (s, t, p, msgspec.structs.replace(g, lower=floor, max_up=WAD // 2, fast_direction="up"))
            for s, t, p, g in out
            for floor in (im if p == "initial_margin" else mm,)
        ]
    if name == "congestion" and fee > 0:
        g = _relative(fee, fee // 2, min(4 * fee, mm // 2), WAD // 2, quarter)
        out.append(("market", m, "liquidation_fee", g))
    if name == "oracle":
        for p in ("price_band", "max_twap_divergence"):
            out.append(("market", m, p, _relative(getattr(spec, p), WAD // 100, quarter, quarter, quarter)))
    if name == "open_interest":
        model = spec.margin_model
        for p in ("lower_cap", "upper_cap"):
            if hasattr(model, p):
                v = getattr(model, p)
                g = _relative(v, v // 10, 10 * v, quarter, quarter)
                out.append(("market", m, f"margin_model.{p}", g))
    return out


def make_controller(name: str, spec: MarketSpec, typical_notional: int) -> Controller:
    if name == "volatility":
        return VolatilityTargeting(spec.id, spec.oracle, floor=spec.maintenance_margin // 2)
    if name == "congestion":
        fee = spec.liquidation_fee
        return CongestionAware(
            spec.id,
            typical_notional=max(typical_notional, WAD),
            liquidator_share=spec.liquidator_share,
            base_fee=fee,
            fee_cap=min(4 * fee, spec.maintenance_margin // 2),
        )
    if name == "open_interest":
        return OpenInterestLiquidity(spec.id, spec.oracle, base_initial=spec.initial_margin)
    if name == "oracle":
        return OracleBounds(spec.id, spec.oracle)
    raise ValueError(f"unknown controller {name!r}; built-ins: congestion, open_interest, oracle, volatility")


NAMES = ("congestion", "open_interest", "oracle", "volatility")
PROFILES = ("default", "conservative")


def parse(spec: str) -> tuple[str, str]:
    """``NAME`` or ``NAME:PROFILE`` -> (name, profile); raises ValueError naming the built-ins."""
    name, _, profile = spec.partition(":")
    profile = profile or "default"
    if name not in NAMES:
        raise ValueError(f"unknown controller {name!r}; built-ins: {', '.join(NAMES)}")
    if profile not in PROFILES:
        raise ValueError(f"unknown guardrail profile {profile!r}; profiles: {', '.join(PROFILES)}")
    return name, profile


class ControllerRun:
    """One controller per market of the scenario, driven through one :class:`StewardAgent` each."""

    def __init__(
        self,
        name: str,
        markets: Sequence[MarketSpec],
        typical_notional: dict[str, int],
        profile: str = "default",
    ) -> None:
        self.name = name
        self.profile = profile
        self.markets = list(markets)
        self.agents = [
            StewardAgent(make_controller(name, m, typical_notional.get(m.id, 10_000 * WAD)), CONTROLLER_KEY)
            for m in self.markets
        ]
        self.guardrails = [g for m in self.markets for g in default_guardrails(name, m, profile)]
        self.applied: list[ev.ParameterApplied] = []
        self.refused = 0
        self._im_sum: dict[str, float] = {m.id: 0.0 for m in self.markets}
        self._blocks = 0

    def setup_txs(self) -> list[c.AnyCommand]:
        txs: list[c.AnyCommand] = [c.ConfigureSteward(StewardConfig(CONTROLLER_KEY, GUARDIAN_KEY))]
        txs += [c.SetGuardrail(s, t, p, g) for s, t, p, g in self.guardrails]  # type: ignore[arg-type]
        return txs

    def transactions(
        self, engine: Engine, time: int, gas_wei: Callable[[str], int], gas_token: int
    ) -> list[c.AnyCommand]:
        state = engine.state
        largest: dict[str, int] = {}
        if self.name == "open_interest":
            for acct in state.accounts.values():
                for pos in acct.positions.values():
                    largest[pos.market] = max(largest.get(pos.market, 0), abs(pos.size))
        obs = Observation(
            time=time,
            prices={k: p for k, (p, _) in state.prices.items()},
            open_interest={mid: m.open_interest for mid, m in state.markets.items()},
            largest_position=largest,
            depth={mid: m.amm_base for mid, m in state.markets.items() if m.amm_account and m.amm_base > 0},
            gas_gwei={lvl: gas_wei(lvl) * 10**9 for lvl in ("p30", "p60", "p90")},
            gas_token_price=gas_token,
        )
        out: list[c.AnyCommand] = []
        for agent in self.agents:
            out += agent.transactions(state, obs)
        return out

    def record(self, engine: Engine, result: BlockResult, first_tx: int, n_txs: int) -> None:
        self.applied += [e for e in result.events if isinstance(e, ev.ParameterApplied)]
        self.refused += sum(
            1
            for e in result.events
            if isinstance(e, ev.TransactionRejected) and first_tx <= e.tx_index < first_tx + n_txs
        )
        for mid in self._im_sum:
            self._im_sum[mid] += WAD / engine.state.markets[mid].spec.initial_margin
        self._blocks += 1

    def summary(self) -> dict[str, Any]:
        steps = [abs(e.value - e.previous) / e.previous for e in self.applied if e.previous]
        sizes = np.array(steps, dtype=float)
        by_param: dict[str, int] = {}
        for e in self.applied:
            by_param[e.parameter] = by_param.get(e.parameter, 0) + 1
        n = max(self._blocks, 1)
        final = {f"{e.scope}:{e.target}/{e.parameter}": e.value for e in self.applied}
        return {
            "name": self.name,
            "profile": self.profile,
            "changes": len(self.applied),
            "changes_by_parameter": dict(sorted(by_param.items())),
            "mean_relative_step": round(float(sizes.mean()), 6) if sizes.size else 0.0,
            "max_relative_step": round(float(sizes.max()), 6) if sizes.size else 0.0,
            "refused": self.refused,
            "mean_allowed_leverage": {mid: round(s / n, 6) for mid, s in sorted(self._im_sum.items())},
            "final": dict(sorted(final.items())),
        }


__all__ = [
    "CONTROLLER_KEY",
    "GUARDIAN_KEY",
    "NAMES",
    "PROFILES",
    "ControllerRun",
    "default_guardrails",
    "parse",
]
