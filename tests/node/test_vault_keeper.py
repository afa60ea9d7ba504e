"""The vault keeper with real processes: a vault drawn against ETH, a price drop through three reporter
processes, two competing keepers (one killed right after its first send and restarted on the same intent
log) bark and take; each exactly once; ``clearhouse verify`` accepts the journal.

Bounded: about 25 s on the shared 2-core machine, most of it starting Python processes."""

from __future__ import annotations

import json

import msgspec
import pytest

from clearhouse.auth.keys import KeyPair
from clearhouse.client import NodeError, W
from clearhouse.journal import open_store
from clearhouse.ledger import commands as c
from clearhouse.ledger.block import decode_block, decode_events
from clearhouse.ledger.events import AuctionEnded, AuctionTaken, VaultBarked
from clearhouse.node.config import dump_config, load_config
from clearhouse.node.vault_genesis import VaultGenesis

from .devnet import Devnet, run_cli, wait_until

#: A fast auction: it starts at 1.1 x the oracle price and falls linearly to 0 in 60 chain seconds, so
#: it reaches the oracle price (a keeper's valuation at no discount) about 5.5 chain seconds after the kick
#: and needs a redo (below 0.4 x the start) only after 36.
VAULTS = VaultGenesis(buf="1.1", tau=60, tail=600, tip="10", chip="0.001", dust="100")


def vault_devnet(root) -> Devnet:  # type: ignore[no-untyped-def]
    net = Devnet(root)
    cfg = load_config(net.config)
    cfg = msgspec.structs.replace(cfg, genesis=msgspec.structs.replace(cfg.genesis, vaults=VAULTS))
    net.config.write_text(dump_config(cfg), encoding="utf-8")
    return net


def test_keepers_bark_and_take_exactly_once(tmp_path) -> None:  # type: ignore[no-untyped-def]
    net = vault_devnet(tmp_path)
    assert "[genesis.vaults]" in net.config.read_text()
    net.start()
    try:
        alice, k1, k2 = (KeyPair.generate() for _ in range(3))
        # k1 alone at first: it exits (as if killed) right after its first send, the Bark
        first = net.keeper("k1", k1, "--run-for", "30", "--exit-after-submit")
        net.report_all("2000")
        net.open_and_fund({"alice": (alice, "10"), "k1": (k1, "100000"), "k2": (k2, "100000")})
        admin = net.client(net.admin)
        assert admin.send(c.Deposit("alice", "ETH", W("1")))["status"] == "included"
        cl = net.client(alice)
        wait_until(lambda: cl.oracles()[0]["state"] == "fresh", 10, "a fresh ETH price")
        assert cl.send(c.Lock("alice", "ETH-A", W("1")))["status"] == "included"
        assert cl.send(c.Draw("alice", "ETH-A", W("1000")))["status"] == "included"
        [vault] = cl.vaults()
        assert (vault["account"], vault["ink"], vault["unsafe"]) == ("alice", W("1"), False)
        assert cl.vaults(unsafe=True) == [] and cl.auctions() == []
        # another key cannot draw against alice's vault
        other = net.client(k1)
        with pytest.raises(NodeError) as err:
            other.send(c.Draw("alice", "ETH-A", W("1")))
        assert (err.value.status, err.value.code) == (403, "unauthorized")
        # the drop: 1300 x 1 ETH / 1.5 = 866 < 1000 drawn, so the vault is unsafe
        reps = [net.reporter(i, "--price", "1300", "--count", "1", "--interval", "0.1") for i in range(3)]
        for p in reps:
            assert p.wait(20) == 0, p.stderr.read().decode()  # type: ignore[union-attr]
        # k1 barks and dies; restarted on the same intent log it must not bark again; k2 competes
        assert first.wait(15) == 3, first.stderr.read().decode()  # type: ignore[union-attr]
        net.keeper("k1", k1, "--run-for", "20")
        net.keeper("k2", k2, "--run-for", "20")
        wait_until(lambda: cl.vaults() == [] and cl.auctions() == [], 20, "the auction to be taken")
        assert cl.account("alice")["balances"].get("ETH", 0) > 0  # the collateral left over, refunded
        height = cl.status()["height"]
        cl.close()
        admin.close()
        other.close()
    finally:
        net.stop()
    store = open_store(net.journal, read_only=True)
    events = [e for row in store.rows() for e in decode_events(row.events)]
    barks = [e for e in events if isinstance(e, VaultBarked)]
    takes = [e for e in events if isinstance(e, AuctionTaken)]
    ended = [e for e in events if isinstance(e, AuctionEnded)]
    assert len(barks) == 1 and barks[0].account == "alice" and barks[0].keeper == "k1"
    assert len(takes) == 1 and takes[0].taker in ("k1", "k2") and takes[0].tab == 0
    assert len(ended) == 1 and ended[0].bad_debt == 0
    # each keeper signed at most one Bark and one TakeAuction (competition, never a double-send)
    signed = [bytes(raw) for row in store.rows() for raw in decode_block(row.block).signed]
    for tag, field in ((b'"Bark"', b"keeper"), (b'"TakeAuction"', b"taker")):
        sent = {raw for raw in signed if tag in raw}
        assert 1 <= len(sent) <= 2
        for keeper in (b"k1", b"k2"):
            assert sum(b'"' + field + b'":"' + keeper + b'"' in raw for raw in sent) <= 1
    # the intent logs: k1 signed its Bark once (the restart resumed it, never re-signed); no keeper
    # opened a second intent for the vault or the auction
    for name, barked in (("k1", 1), ("k2", 0)):
        path = tmp_path / f"{name}-intents.jsonl"
        lines = path.read_text().splitlines() if path.exists() else []
        opened = [tuple(json.loads(line)["target"]) for line in lines if '"open"' in line]
        assert opened.count(("vault:alice", "ETH-A")) == barked, opened
        assert opened.count(("auction:1", None)) <= 1, opened
    head = store.head()
    assert head is not None and head.height >= height
    store.close()
    res = run_cli("verify", net.journal)
    assert res.returncode == 0, res.stdout.decode() + res.stderr.decode()
