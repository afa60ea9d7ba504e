"""End to end with real processes: node + 3 reporters + 2 keepers + clients; a crash liquidates, the
journal verifies, and the same journal replayed gives the same roots."""

from __future__ import annotations

import httpx

from clearhouse.auth.keys import KeyPair
from clearhouse.journal import open_store
from clearhouse.journal.replay import verify_journal
from clearhouse.ledger.block import decode_block, decode_events
from clearhouse.ledger.events import PositionClosedOut

from .devnet import Devnet, free_port, run_cli, trade, wait_until


def test_crash_path_liquidates_and_journal_verifies(tmp_path) -> None:  # type: ignore[no-untyped-def]
    net = Devnet(tmp_path)
    net.start()
    try:
        alice, bob, k1, k2 = (KeyPair.generate() for _ in range(4))
        # two competing keepers, started first (they follow the stream from block 1)
        metrics_port = free_port()
        net.keeper("k1", k1, "--run-for", "40", "--metrics-port", str(metrics_port))
        net.keeper("k2", k2, "--run-for", "40")
        net.report_all("2000")
        net.open_and_fund({"alice": (alice, "10000"), "bob": (bob, "10000"), "k1": (k1, "100000"),
                           "k2": (k2, "100000")})
        cl = net.client(alice)
        wait_until(lambda: cl.oracles()[0]["state"] == "fresh", 10, "a fresh ETH price")
        out = trade(cl, ("alice", alice), ("bob", bob), "45", "2000")
        assert out["status"] == "included", out
        assert cl.account("alice")["positions"][0]["size"] == 45 * 10**18
        # the crash: three reporter processes publish 1850 (alice's liquidation price is ~1872)
        reps = [net.reporter(i, "--price", "1850", "--count", "1", "--interval", "0.1") for i in range(3)]
        for p in reps:
            assert p.wait(20) == 0, p.stderr.read().decode()  # type: ignore[union-attr]
        wait_until(lambda: not cl.account("alice")["positions"], 25, "a keeper to close alice out")
        assert cl.liquidations() == []
        node_metrics = httpx.get(f"{net.url}/metrics").text
        assert "clearhouse_liquidations_total 1.0" in node_metrics
        assert 'clearhouse_oracle_state{feed="ETH",state="fresh"} 1.0' in node_metrics
        keeper_metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
        assert "clearhouse_keeper_replica_height" in keeper_metrics
        height = cl.status()["height"]
        cl.close()
    finally:
        net.stop()
    # exactly one close-out of alice, by one of the keepers; the other keeper's (if any) failed
    store = open_store(net.journal, read_only=True)
    closeouts = []
    for row in store.rows():
        closeouts += [e for e in decode_events(row.events) if isinstance(e, PositionClosedOut)]
    assert len(closeouts) == 1 and closeouts[0].account == "alice"
    # each keeper signed at most one close-out of alice (competition, not double-sending)
    signed = [bytes(raw) for row in store.rows() for raw in decode_block(row.block).signed]
    sent = [raw for raw in signed if b'"CloseOut"' in raw]
    assert 1 <= len(sent) <= 2
    for keeper in (b"k1", b"k2"):
        assert sum(b'"liquidator":"' + keeper + b'"' in raw for raw in sent) <= 1
    assert closeouts[0].liquidator in ("k1", "k2")
    report, _ = verify_journal(store)
    assert report.ok and report.blocks >= height
    store.close()
    res = run_cli("verify", net.journal)
    assert res.returncode == 0, res.stdout.decode() + res.stderr.decode()


