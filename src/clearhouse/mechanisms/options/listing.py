"""Admin listing of dated contracts and the scenario table of an underlying."""

from __future__ import annotations

from clearhouse.core.errors import AlreadyExists, InvalidParameters, UnknownAsset
from clearhouse.ledger import commands as cmd
from clearhouse.ledger import events as ev
from clearhouse.ledger.contracts import Listing, RiskTable
from clearhouse.ledger.kernel import Handlers
from clearhouse.ledger.unit_of_work import TxContext
from clearhouse.options.instruments import EuropeanOption


def list_contract(ctx: TxContext, c: cmd.ListContract) -> None:
    """List a future or an option; its id is the spec's symbol (distinct from every perp market)."""
    spec, state = c.spec, ctx.state
    book = ctx.contracts()
    if spec.symbol in book.instruments or spec.symbol in state.markets:
        raise AlreadyExists(f"instrument {spec.symbol} is already listed")
    if state.params.settlement_asset not in state.assets:
        raise UnknownAsset(
            f"instrument {spec.symbol}: settlement asset {state.params.settlement_asset} is not listed"
        )
    if spec.is_expired(state.time):
        raise InvalidParameters(f"instrument {spec.symbol}: expiry {spec.expiry} is not after {state.time}")
    book.instruments[spec.symbol] = Listing(spec, c.terms)
    if isinstance(spec, EuropeanOption):
        kind, strike = spec.option_kind.value, spec.strike
    else:
        kind, strike = "future", 0
    ctx.emit(ev.ContractListed(spec.symbol, kind, spec.underlying, spec.expiry, strike))


def set_scenario_table(ctx: TxContext, c: cmd.SetScenarioTable) -> None:
    """Replace the underlying's table. Every listed option with open interest must have a row (so no
    held position becomes unmarginable), and a row for a listed option must match its spec."""
    book = ctx.contracts()
    table = c.table
    if table.as_of > ctx.state.time:
        raise InvalidParameters(f"scenario table of {c.underlying} is dated {table.as_of}, after the block")
    rows = {row.instrument: row for row in table.options}
    for iid in sorted(book.instruments):
        listing = book.instruments[iid]
        spec = listing.spec
        if not isinstance(spec, EuropeanOption) or spec.underlying != c.underlying:
            continue
        row = rows.get(iid)
        if row is None:
            if listing.open_interest:
                raise InvalidParameters(f"scenario table of {c.underlying} has no row for held option {iid}")
            continue
        if (row.kind, row.strike, row.expiry) != (spec.option_kind, spec.strike, spec.expiry):
            raise InvalidParameters(f"scenario table row {iid} does not match its listing")
    book.tables[c.underlying] = RiskTable(c.spec, table)
    grid = type(c.spec).__name__
    ctx.emit(ev.ScenarioTableSet(c.underlying, grid, len(table.options), table.spot, table.as_of))


HANDLERS: Handlers = {cmd.ListContract: list_contract, cmd.SetScenarioTable: set_scenario_table}
