"""Signed transactions: admission of envelopes (signature, nonce, expiry, authorization), the auth state
in the root, signed oracle reports, key management and matched fills (docs/auth.md).

The engine calls :mod:`.auth_hooks`, which loads the auth package (and PyNaCl) only on a ledger that
uses signatures; ``ConfigureAuth`` is the one bare command this mechanism handles.
"""

from __future__ import annotations

from clearhouse.ledger.commands import ConfigureAuth
from clearhouse.ledger.kernel import Handlers
from clearhouse.mechanisms.signing.auth_hooks import configure_auth

HANDLERS: Handlers = {ConfigureAuth: configure_auth}
