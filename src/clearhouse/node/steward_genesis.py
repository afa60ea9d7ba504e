"""The devnet's steward at genesis (``[genesis.steward]`` in ``node.toml``): a controller key, a guardian key
and the guardrails of the devnet market, so ``clearhouse controller`` has something to do.

The guardrails are the lab's (:func:`clearhouse.lab.controller_run.default_guardrails`, the same code the
backtests use) around the genesis market's own parameters, with the timelock, interval and expiry of the
node's configuration. Block 1 sends ``ConfigureSteward`` and one ``SetGuardrail`` per guarded parameter
(bare, like the rest of block 1: the admin's bootstrap, docs/auth.md).
"""

from __future__ import annotations

import msgspec

from clearhouse.auth.signing import check_public_key
from clearhouse.ledger import commands as c
from clearhouse.ledger.errors import InvalidValue
from clearhouse.ledger.model import MarketSpec
from clearhouse.steward.state import StewardConfig


class StewardGenesis(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Who may propose (``controller_key``) and veto (``guardian_key``), and which controllers' guardrails
    (``controllers``: lab names, ``profile``: ``default`` or ``conservative``) the devnet market gets."""

    controller_key: str
    guardian_key: str
    controllers: tuple[str, ...] = ("volatility",)
    profile: str = "default"
    #: Seconds from a proposal to its earliest application, between two applications, and of its life.
    timelock: int = 0
    min_interval: int = 600
    expiry: int = 3600
    #: Parameters the controller may never touch (sorted).
    forbidden: tuple[str, ...] = ()

    def validate(self) -> None:
        from clearhouse.lab.controller_run import NAMES, PROFILES

        check_public_key(self.controller_key)
        check_public_key(self.guardian_key)
        if self.controller_key == self.guardian_key:
            raise InvalidValue("genesis.steward: the controller and the guardian must be different keys")
        for name in self.controllers:
            if name not in NAMES:
                known = ", ".join(NAMES)
                raise InvalidValue(f"genesis.steward: unknown controller {name!r}; built-ins: {known}")
        if self.profile not in PROFILES:
            raise InvalidValue(f"genesis.steward: unknown profile {self.profile!r}")
        if self.min_interval < 1 or self.timelock < 0 or self.expiry <= self.timelock:
            raise InvalidValue("genesis.steward: need min_interval >= 1, timelock >= 0, expiry > timelock")


def steward_txs(st: StewardGenesis, market: MarketSpec) -> list[c.AnyCommand]:
    """``ConfigureSteward`` and the market's ``SetGuardrail`` commands (deduplicated, in a fixed order)."""
    from clearhouse.lab.controller_run import default_guardrails

    config = StewardConfig(st.controller_key, st.guardian_key, tuple(sorted(set(st.forbidden))))
    txs: list[c.AnyCommand] = [c.ConfigureSteward(config)]
    seen: set[tuple[str, str, str]] = set()
    for name in st.controllers:
        for scope, target, parameter, guard in default_guardrails(name, market, st.profile):
            if (scope, target, parameter) in seen:
                continue
            seen.add((scope, target, parameter))
            guard = msgspec.structs.replace(
                guard, timelock=st.timelock, min_interval=st.min_interval, expiry=st.expiry
            )
            txs.append(c.SetGuardrail(scope, target, parameter, guard))  # type: ignore[arg-type]
    return txs


def toml_section(st: StewardGenesis) -> str:
    """The ``[genesis.steward]`` table of :func:`clearhouse.node.config.dump_config`."""
    from clearhouse.node.toml_text import toml_value

    lines = ["\n[genesis.steward]"]
    lines += [f"{f} = {toml_value(getattr(st, f))}" for f in st.__struct_fields__]
    return "\n".join(lines)


__all__ = ["StewardGenesis", "steward_txs", "toml_section"]
