"""Crash semantics with real processes: SIGKILL the node under load and restart it; kill a keeper right
after it submitted a close-out and restart it."""

from __future__ import annotations

import threading
import time

import httpx

from clearhouse.auth.envelope import encode_signed
from clearhouse.auth.keys import KeyPair
from clearhouse.client import NodeError, W
from clearhouse.journal import open_store
from clearhouse.journal.replay import verify_journal
from clearhouse.ledger import commands as c
from clearhouse.ledger.block import decode_block, decode_events
from clearhouse.ledger.events import Deposited, PositionClosedOut
from clearhouse.mechanisms.signing.admission import tx_hash

from .devnet import Devnet, trade, wait_until


def test_sigkill_under_load_keeps_acknowledgement_semantics(tmp_path) -> None:  # type: ignore[no-untyped-def]
    net = Devnet(tmp_path, reporters=0, admins=4, block_time_ms=100)
    net.start()
    owner = KeyPair.generate()
    with net.client(net.admin) as cl:
        assert cl.send(c.OpenAccount("pool", owner.public_hex), owner)["status"] == "included"
    acked: dict[str, bytes] = {}
    included: dict[str, int] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def load(worker: int) -> None:
        # each worker signs with its own admin key: its nonces arrive in order
        with net.client(net.admin_keys[worker]) as wc:
            i = 0
            while not stop.is_set():
                i += 1
                raw = encode_signed(wc.sign(c.Deposit("pool", "USDC", W(1) + (worker * 10**6 + i) * 10**12)))
                try:
                    h = wc.submit(raw)
                except (NodeError, httpx.HTTPError):
                    break
                with lock:
                    acked[h] = raw

    def watch() -> None:
        with net.client() as wc:
            while not stop.is_set():
                with lock:
                    todo = [h for h in acked if h not in included][:200]
                for h in todo:
                    try:
                        st = wc.tx(h)
                    except httpx.HTTPError:
                        return
                    if st["status"] == "included":
                        included[h] = st["height"]

    threads = [threading.Thread(target=load, args=(w,)) for w in range(4)] + [threading.Thread(target=watch)]
    for t in threads:
        t.start()
    time.sleep(2.5)
    net.kill9()  # under load: the workers are submitting, blocks are being produced
    stop.set()
    for t in threads:
        t.join(10)
    assert len(included) > 20, "the load did not get far enough to test anything"
    assert len(acked) > len(included)

    # every transaction reported included is in the journal, at the height reported
    store = open_store(net.journal, read_only=True)
    head = len(store)
    for h, height in included.items():
        assert height <= head
        block = decode_block(store.get(height).block)  # type: ignore[union-attr]
        assert h in {tx_hash(raw) for raw in block.signed}
    store.close()

    # restart: resumes from the journal; statuses survive; resending everything applies nothing twice
    net.start()
    with net.client() as cl:
        assert cl.status()["restarted"] is True
        for h in included:
            assert cl.tx(h)["status"] == "included"
        raws = list(acked.values())
        final = []
        for j in range(0, len(raws), 500):
            body = b"\n".join(raws[j:j + 500])
            for r in cl.http.post("/v1/txs/batch", content=body).json()["results"]:
                if r.get("hash"):
                    final.append(r["hash"])
                else:
                    assert r["code"] == "nonce_reused", r
        for h in final[-20:]:
            cl.wait(h, 20)
        wait_until(lambda: cl.status()["mempool"] == 0, 20, "the resent transactions to settle")
    net.stop()
    store = open_store(net.journal, read_only=True)
    assert verify_journal(store)[0].ok
    events = [e for row in store.rows() for e in decode_events(row.events)]
    amounts = [e.amount for e in events if isinstance(e, Deposited)]
    store.close()
    assert len(amounts) == len(set(amounts)), "a deposit was applied twice"
    assert len(amounts) >= len(included)


def test_keeper_killed_mid_liquidation_does_not_double_send(tmp_path) -> None:  # type: ignore[no-untyped-def]
    net = Devnet(tmp_path)
    net.start()
    try:
        alice, bob, k1 = (KeyPair.generate() for _ in range(3))
        # the keeper submits its close-out and dies at once (as if killed before it saw the outcome)
        first = net.keeper("k1", k1, "--exit-after-submit", "--run-for", "30")
        net.report_all("2000")
        net.open_and_fund({"alice": (alice, "10000"), "bob": (bob, "10000"), "k1": (k1, "100000")})
        cl = net.client(alice)
        wait_until(lambda: cl.oracles()[0]["state"] == "fresh", 10, "a fresh price")
        assert trade(cl, ("alice", alice), ("bob", bob), "45", "2000")["status"] == "included"
        time.sleep(1.1)
        net.report_all("1850")
        wait_until(lambda: cl.liquidations() != [], 10, "alice below maintenance")
        assert first.wait(30) == 3, first.stderr.read().decode()  # type: ignore[union-attr]
        intents = (tmp_path / "k1-intents.jsonl").read_text().splitlines()
        assert len(intents) == 1 and '"op": "open"' in intents[0]
        # restarted: it re-sends the same bytes (or sees them included) and signs nothing new
        again = net.keeper("k1", k1, "--run-for", "30")
        wait_until(lambda: not cl.account("alice")["positions"], 15, "the close-out")
        log_path = tmp_path / "k1-intents.jsonl"
        wait_until(lambda: '"op": "done"' in log_path.read_text(), 15, "the keeper to see the outcome")
        again.kill()
        again.wait(10)
        lines = log_path.read_text().splitlines()
        assert sum('"op": "open"' in line for line in lines) == 1
        assert any('"op": "done"' in line and "included" in line for line in lines)
        cl.close()
    finally:
        net.stop()
    store = open_store(net.journal, read_only=True)
    events = [e for row in store.rows() for e in decode_events(row.events)]
    closeouts = [e for e in events if isinstance(e, PositionClosedOut)]
    sent = [
        raw for row in store.rows() for raw in decode_block(row.block).signed if b'"CloseOut"' in bytes(raw)
    ]
    store.close()
    assert len(closeouts) == 1 and closeouts[0].liquidator == "k1"
    assert len(sent) == 1, "the keeper's close-out was put in a block more than once"
