"""Which parameters the steward can steer, how to read their live value and how to build the change.

A parameter is named by a scope (``"market"`` or ``"vault_type"``), a target id and a path:

* markets: the top-level risk fields of :class:`~clearhouse.ledger.model.MarketSpec` in
  :data:`MARKET_FIELDS`, ``liquidation.<int field>`` of its liquidation config, ``margin_model.<int field>``
  of its margin model (e.g. the dYdX OI caps ``margin_model.lower_cap``), and ``vol_multiplier`` (the
  market state's volatility multiplier, set through ``SetVolatility``);
* vault types: :data:`VAULT_FIELDS` of :class:`~clearhouse.ledger.model.VaultTypeSpec` and
  ``disposal.<int field>`` of its disposal path (Dutch auction ``buf``, ``tail``, ``cusp``, ``chip``,
  ``tip``, ``step``, ``cut``, ``tau``...).

Structural fields (ids, oracle keys, step size, funding period, mechanism choices, booleans) are never
steerable. A change is expressed as the ordinary governance command (``UpdateMarket``, ``SetVolatility``,
``UpdateVaultType``) so the steward applies it through the same handler as the admin would.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from clearhouse.ledger import commands as cmd
from clearhouse.ledger.model import LedgerState, MarketSpec, VaultTypeSpec
from clearhouse.steward.errors import ParameterForbidden
from clearhouse.steward.names import MARKET_FIELDS, VAULT_FIELDS, VOL, check_steerable, key, split

Scope = Literal["market", "vault_type"]

def _int_fields(struct: msgspec.Struct) -> set[str]:
    return {
        f for f in struct.__struct_fields__ if type(getattr(struct, f)) is int  # bool is not int here
    }


def _sub_value(struct: msgspec.Struct, leaf: str, what: str) -> int:
    if leaf not in _int_fields(struct):
        raise ParameterForbidden(f"{what}: {leaf!r} is not an integer field of {type(struct).__name__}")
    value: int = getattr(struct, leaf)
    return value


def read(state: LedgerState, scope: str, target: str, parameter: str) -> int:
    """The live value of a parameter (raises the engine's Unknown* error for a missing target)."""
    from clearhouse.ledger.errors import UnknownMarket, UnknownVaultType

    what = f"{scope} {target} {parameter}"
    head, leaf = split(parameter)
    if scope == "market":
        market = state.markets.get(target)
        if market is None:
            raise UnknownMarket(f"unknown market {target!r}")
        if head == VOL:
            return market.vol_multiplier
        if leaf is None:
            value: int = getattr(market.spec, head)
            return value
        return _sub_value(getattr(market.spec, head), leaf, what)
    vt = state.vault_types.get(target)
    if vt is None:
        raise UnknownVaultType(f"unknown vault type {target!r}")
    if leaf is None:
        vvalue: int = getattr(vt.spec, head)
        return vvalue
    return _sub_value(vt.spec.disposal, leaf, what)


def change_command(state: LedgerState, scope: str, target: str, parameter: str, value: int) -> cmd.Command:
    """The governance command that sets the parameter to ``value`` and leaves everything else alone."""
    head, leaf = split(parameter)
    if scope == "market":
        if head == VOL:
            return cmd.SetVolatility(target, value)
        spec: MarketSpec = state.markets[target].spec
        if leaf is None:
            new_spec = msgspec.structs.replace(spec, **{head: value})
        else:
            inner = msgspec.structs.replace(getattr(spec, head), **{leaf: value})
            new_spec = msgspec.structs.replace(spec, **{head: inner})
        return cmd.UpdateMarket(new_spec)
    vspec: VaultTypeSpec = state.vault_types[target].spec
    if leaf is None:
        new_vspec = msgspec.structs.replace(vspec, **{head: value})
    else:
        disposal = msgspec.structs.replace(vspec.disposal, **{leaf: value})
        new_vspec = msgspec.structs.replace(vspec, disposal=disposal)
    return cmd.UpdateVaultType(new_vspec)


__all__ = [
    "MARKET_FIELDS",
    "VAULT_FIELDS",
    "VOL",
    "Scope",
    "change_command",
    "check_steerable",
    "key",
    "read",
]
