"""The controller process's idempotency, deterministically, without HTTP: a chain is fed to
:class:`LiveController` as stream items; the node is a stub that records submissions and forgets them on
demand. A controller restarted while its proposal is not in any block re-sends the *same* bytes (it never
signs a second proposal of that change), settles it when a block holds it, and never proposes a parameter
that has a pending proposal."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import msgspec

from clearhouse.auth.envelope import decode_signed
from clearhouse.auth.keys import KeyPair
from clearhouse.client import Client
from clearhouse.ledger import commands as c
from clearhouse.ledger import events as ev
from clearhouse.ledger.block import Block, encode_block
from clearhouse.ledger.engine import Engine
from clearhouse.ledger.fixedpoint import WAD
from clearhouse.node.config import GenesisConfig, NodeConfig
from clearhouse.node.controller_proc import ControllerSettings, LiveController
from clearhouse.node.genesis import genesis_block
from clearhouse.node.keeper import StreamItem
from clearhouse.node.steward_genesis import StewardGenesis

KEY = KeyPair.generate()
CHAIN = "clearhouse-devnet"


class StubNode(Client):
    """Records submissions; ``tx`` answers from what the test says the node knows."""

    def __init__(self) -> None:
        super().__init__("http://127.0.0.1:9", KEY, chain_id=CHAIN)
        self.submitted: list[bytes] = []
        self.status_of: dict[str, dict[str, Any]] = {}

    def submit(self, signed: Any) -> str:
        assert isinstance(signed, bytes)
        self.submitted.append(signed)
        h = _hash(signed)
        self.status_of[h] = {"hash": h, "status": "pending", "height": None}
        return h

    def tx(self, tx_hash: str) -> dict[str, Any]:
        return self.status_of.get(tx_hash, {"hash": tx_hash, "status": "unknown", "height": None})


class Chain:
    """The node's chain, built with a real engine; stream items carry the block bytes and the root."""

    def __init__(self) -> None:
        self.start = int(time.time()) - 100
        steward = StewardGenesis(KEY.public_hex, "ef" * 32, timelock=5, min_interval=1, expiry=100)
        genesis = GenesisConfig(start_time=self.start, steward=steward)
        cfg = NodeConfig(admin_keys=("ab" * 32,), genesis=genesis)
        self.engine = Engine()
        self.items: list[StreamItem] = []
        self.events: list[ev.Event] = []
        self._add(genesis_block(cfg, self.start), [])
        self.prices = iter([2000, 2400, 1800, 2300, 1700, 2200] * 20)

    def _add(self, block: Block, txs: list[dict[str, Any]]) -> StreamItem:
        result = self.engine.apply_block(block)
        self.events += result.events
        item = StreamItem(len(self.items) + 1, "block", block.height, result.state_root,
                          msgspec.Raw(encode_block(block)), txs)
        self.items.append(item)
        return item

    def next(self, signed: list[bytes] | None = None) -> StreamItem:
        signed = signed or []
        h = self.engine.state.height + 1
        block = Block(h, self.start + h, {"ETH": next(self.prices) * WAD}, (),
                      signed=tuple(msgspec.Raw(r) for r in signed))
        txs = [{"hash": _hash(r), "status": "included"} for r in signed]
        return self._add(block, txs)


def _hash(raw: bytes) -> str:
    from clearhouse.auth.envelope import signing_digest

    return signing_digest(decode_signed(raw).envelope).hex()


def _controller(path: Path, node: StubNode, catch_up: int) -> LiveController:
    settings = ControllerSettings("http://127.0.0.1:9", "volatility", path, {"min_samples": 3})
    ctrl = LiveController(settings, KEY)
    ctrl.client = node
    ctrl.catch_up = catch_up
    return ctrl


def test_restart_resends_the_same_bytes_and_never_duplicates(tmp_path: Path) -> None:
    state = tmp_path / "intents.jsonl"
    chain, node = Chain(), StubNode()
    a = _controller(state, node, catch_up=0)
    for item in chain.items:
        a.on_block(item)
    while not node.submitted:
        a.on_block(chain.next())
    sent = list(node.submitted)  # initial margin first, then maintenance; nothing more while they are open
    cmds = [decode_signed(r).envelope.command for r in sent]
    assert [(type(x), x.parameter) for x in cmds] == [  # type: ignore[union-attr]
        (c.ProposeParameter, "initial_margin"), (c.ProposeParameter, "maintenance_margin")]
    a.on_block(chain.next())
    assert node.submitted == sent

    # the node forgets them (restart: the mempool is not durable); the controller restarts too
    node.status_of.clear()
    b = _controller(state, node, catch_up=chain.engine.state.height + 1)
    for item in chain.items:
        b.on_block(item)  # catching up: the same observations, nothing sent
    assert node.submitted == sent
    # the same chain, the same controller state (the EWMA of returns) as before the restart
    assert vars(b.agents["ETH-PERP"].controller.ewma) == vars(a.agents["ETH-PERP"].controller.ewma)
    b.on_block(chain.next())  # live, the intents are open and unknown to the node: the same bytes again
    assert node.submitted == sent + sent

    # a block holds it: settled; then the node includes every submission in the next block
    b.on_block(chain.next(sent))
    assert not b.intents.open
    included = set(sent)
    for _ in range(30):
        new = [r for r in dict.fromkeys(node.submitted) if r not in included]
        included.update(new)
        b.on_block(chain.next(new))
    pending: dict[int, ev.ParameterProposed] = {}
    proposed, applied = 0, 0
    for e in chain.events:
        if isinstance(e, ev.ParameterProposed):
            assert all(p.parameter != e.parameter for p in pending.values()), e
            pending[e.proposal] = e
            proposed += 1
        elif isinstance(e, ev.ParameterApplied | ev.ProposalVetoed | ev.ProposalDropped):
            applied += isinstance(e, ev.ParameterApplied)
            del pending[e.proposal]
        assert not isinstance(e, ev.TransactionRejected), e
    assert proposed >= 4 and applied >= 3
    ims = [e for e in chain.events if isinstance(e, ev.ParameterProposed) and e.parameter == "initial_margin"]
    assert ims[0].previous == WAD // 10 and sum(p.previous == WAD // 10 for p in ims) == 1
    # each signed envelope was submitted once, except the two re-sent after the node forgot them
    assert len(node.submitted) == len(set(node.submitted)) + 2
