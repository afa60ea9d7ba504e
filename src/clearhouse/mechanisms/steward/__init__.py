"""The steward: guarded parameter changes (a controller proposes, the steward disposes; docs/controller.md).

The pure guardrail arithmetic and state live in :mod:`clearhouse.steward`; the handlers here apply a
proposal through the admin's own ``UpdateMarket`` / ``SetVolatility`` / ``UpdateVaultType`` handler.
"""

from __future__ import annotations

from clearhouse.ledger import commands as cmd
from clearhouse.ledger.kernel import Handlers
from clearhouse.mechanisms.steward.handlers import (
    apply_parameter,
    configure_steward,
    propose_parameter,
    set_guardrail,
    veto_proposal,
)

HANDLERS: Handlers = {
    cmd.ConfigureSteward: configure_steward,
    cmd.SetGuardrail: set_guardrail,
    cmd.ProposeParameter: propose_parameter,
    cmd.ApplyParameter: apply_parameter,
    cmd.VetoProposal: veto_proposal,
}
