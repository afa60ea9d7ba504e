"""Disputes on ledgers whose globals carry the steward and dated contracts (hashed into the root only
once used): the globals witness carries them and the re-encoding check binds them to the root."""

from __future__ import annotations

import sys
from pathlib import Path

import msgspec
import pytest

from clearhouse.journal.memory import MemoryJournalStore
from clearhouse.ledger import commands as c
from clearhouse.ledger.block import Block
from clearhouse.ledger.engine import Engine
from clearhouse.ledger.model import LedgerState
from clearhouse.proofs import witness
from clearhouse.proofs.dispute import StepProof, check_step, decode_step, encode_step, make_step
from clearhouse.proofs.tlog import ProofInvalid
from clearhouse.steward.guardrails import Guardrail
from clearhouse.steward.state import StewardConfig

from .test_dispute import _copy

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "mechanisms"))
from options_fixtures import W, options_engine, run_to

replace = msgspec.structs.replace
CONTROLLER, GUARDIAN = "c1" * 32, "9a" * 32


def _ledger() -> MemoryJournalStore:
    """Options genesis (contracts listed, a scenario table), then a steward with a guardrail, a proposal
    and its application, and contract trades: every later block's globals hold both."""
    store = MemoryJournalStore()
    engine: Engine = options_engine(journal=store)

    def block(txs: list[c.AnyCommand], price: int = W(2000)) -> None:
        s = engine.state
        engine.apply_block(Block(s.height + 1, s.time + 60, {"ETH": price}, tuple(txs)))

    fee = Guardrail(lower=0, upper=W(1) // 100, max_up=W(1) // 1000, max_down=W(1) // 1000)
    block([
        c.ConfigureSteward(StewardConfig(CONTROLLER, GUARDIAN, ())),
        c.SetGuardrail("market", "ETH-PERP", "taker_fee", fee),
    ])  # fmt: skip
    block([c.ProposeParameter(CONTROLLER, "market", "ETH-PERP", "taker_fee", W(1) // 1000)])
    block([c.ApplyParameter(CONTROLLER, 1), c.TradeContract("ETH-F", "alice", "bob", W(2), W(2000))])
    call = c.TradeContract("ETH-C1900", "alice", "bob", W(1), W(150))
    run_to(engine, engine.state.time + 60, [call], W(2010))
    assert engine.state.steward.used() and engine.state.contracts.used()
    assert engine.state.steward.last_applied, "the proposal was applied"
    return store


@pytest.fixture(scope="module")
def journal() -> MemoryJournalStore:
    return _ledger()


@pytest.mark.parametrize("height", [3, 4, 5, 6])
def test_steward_and_contract_blocks_disputed(journal: MemoryJournalStore, height: int) -> None:
    liar = _copy(journal, {height: {"state_root": "cd" * 32}})
    _, proof = make_step(journal, liar, ("honest", "liar"))
    verdict = check_step(decode_step(encode_step(proof)))
    assert verdict.block_root == journal.get(height).state_root  # type: ignore[union-attr]
    assert verdict.matches == {"honest": True, "liar": False}


def _with_globals(proof: StepProof, edit: dict[str, object]) -> StepProof:
    state = witness.loads(proof.globals)
    assert isinstance(state, LedgerState)
    for name, value in edit.items():
        setattr(state, name, value)
    return replace(proof, globals=witness.dumps(state))


def test_altered_steward_or_contracts_in_the_globals_are_refused(journal: MemoryJournalStore) -> None:
    liar = _copy(journal, {6: {"state_root": "cd" * 32}})
    _, proof = make_step(journal, liar)
    pre = witness.loads(proof.globals)
    assert pre.steward.used() and pre.contracts.used()
    book = pre.contracts.clone()
    book.instruments.pop(sorted(book.instruments)[0])
    cases = [
        _with_globals(proof, {"steward": replace(pre.steward, next_id=pre.steward.next_id + 1)}),
        _with_globals(proof, {"steward": replace(pre.steward, guardrails={})}),
        _with_globals(proof, {"contracts": book}),
        _with_globals(proof, {"contracts": type(book)()}),  # as if never used: the root still has them
    ]
    check_step(_with_globals(proof, {}))  # re-encoding alone changes nothing
    for bad in cases:
        with pytest.raises(ProofInvalid):
            check_step(bad)
