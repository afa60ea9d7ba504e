"""Commands of the authentication layer, and the union a signed envelope may carry.

Key management (owners authorise and revoke sub-keys; the admin whitelists reporter keys) and the matched
fill (a trade carrying both parties' signed orders). :data:`TxCommand` is ``AnyCommand`` plus these; only
signed envelopes carry them (``clearhouse.ledger.admission``). Tags are the class names, as for every command.
"""

from __future__ import annotations

from clearhouse.auth.orders import Fill, SignedOrder
from clearhouse.auth.signing import check_public_key
from clearhouse.ledger import commands as c
from clearhouse.ledger.errors import InvalidValue
from clearhouse.ledger.fixedpoint import check_positive

#: Most sub-keys one account may authorise at once (keeps the state per account bounded).
MAX_SUBKEYS = 8


def check_key(key: str, what: str) -> str:
    """``key`` if it is a lower-case hex ed25519 public key; :class:`InvalidValue` naming ``what``."""
    try:
        check_public_key(key)
    except InvalidValue as err:
        raise InvalidValue(f"{what}: {err}") from None
    return key


class AuthorizeKey(c.Command, frozen=True, tag=True):
    """The owner of ``account`` lets ``key`` act for it (trade, withdraw, move margin; not manage keys)."""

    account: str
    key: str

    def check(self) -> None:
        check_key(self.key, f"sub-key of {self.account}")


class RevokeKey(c.Command, frozen=True, tag=True):
    """The owner of ``account`` withdraws ``key``'s right to act for it, effective immediately."""

    account: str
    key: str

    def check(self) -> None:
        check_key(self.key, f"sub-key of {self.account}")


class AuthorizeReporter(c.Command, frozen=True, tag=True):
    """Admin: reports of ``source`` for ``feed`` must be signed by ``key`` (replaces a previous key)."""

    feed: str
    source: str
    key: str

    def check(self) -> None:
        check_key(self.key, f"reporter key of {self.feed}/{self.source}")


class RevokeReporter(c.Command, frozen=True, tag=True):
    """Admin: no key may report for ``source`` of ``feed`` any more."""

    feed: str
    source: str


class MatchedFill(c.Command, frozen=True, tag=True):
    """A fill with both signed orders: what a matcher (anyone; the orders carry the consent) submits
    instead of a bare ``Trade`` (executed by ``clearhouse.ledger.auth_handlers``)."""

    buy: SignedOrder
    sell: SignedOrder
    fill: Fill

    def check(self) -> None:
        self.buy.order.check()
        self.sell.order.check()
        check_positive(self.fill.size, f"fill size in {self.fill.market}")
        check_positive(self.fill.price, f"fill price in {self.fill.market}")


AuthCommand = AuthorizeKey | RevokeKey | AuthorizeReporter | RevokeReporter | MatchedFill
#: Everything an envelope may carry.
TxCommand = c.AnyCommand | AuthCommand

__all__ = [
    "MAX_SUBKEYS",
    "AuthCommand",
    "AuthorizeKey",
    "AuthorizeReporter",
    "MatchedFill",
    "RevokeKey",
    "RevokeReporter",
    "TxCommand",
    "check_key",
]
