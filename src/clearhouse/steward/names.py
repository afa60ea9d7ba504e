"""Which (scope, parameter) names the steward may ever steer, and the canonical key of a (target,
parameter): stateless, so a command's ``check`` can refuse a name before any state is read."""

from __future__ import annotations

from clearhouse.steward.errors import ParameterForbidden

MARKET_FIELDS = frozenset(
    {
        "initial_margin",
        "maintenance_margin",
        "taker_fee",
        "maker_fee",
        "liquidation_fee",
        "liquidator_share",
        "funding_interest",
        "funding_clamp_factor",
        "max_twap_divergence",
        "price_band",
        "mark_min_notional",
    }
)
VAULT_FIELDS = frozenset({"mat", "line", "chop", "dust", "duty"})
VOL = "vol_multiplier"


def split(parameter: str) -> tuple[str, str | None]:
    head, _, leaf = parameter.partition(".")
    return head, (leaf or None)


def check_steerable(scope: str, parameter: str) -> None:
    """Stateless: refuse names that can never be steered (whatever the target)."""
    head, leaf = split(parameter)
    if scope == "market":
        ok = (leaf is None and (head in MARKET_FIELDS or head == VOL)) or (
            leaf is not None and head in ("liquidation", "margin_model") and "." not in leaf
        )
    elif scope == "vault_type":
        ok = (leaf is None and head in VAULT_FIELDS) or (head == "disposal" and leaf is not None)
    else:
        ok = False
    if not ok:
        raise ParameterForbidden(f"{scope} parameter {parameter!r} is not steerable")


def key(scope: str, target: str, parameter: str) -> str:
    """Canonical key of a (target, parameter): ``scope:target/parameter``."""
    return f"{scope}:{target}/{parameter}"
