"""Load, bounded: N concurrent clients submit signed trades (matched fills) to a node process; every
acknowledged trade is included exactly once, positions net to zero and the journal verifies."""

from __future__ import annotations

import threading

from clearhouse.auth.envelope import encode_signed
from clearhouse.auth.keys import KeyPair
from clearhouse.client import NodeError, W
from clearhouse.journal import open_store
from clearhouse.journal.replay import verify_journal
from clearhouse.ledger.block import decode_events
from clearhouse.ledger.events import Traded

from .devnet import Devnet

CLIENTS = 4
TRADES = 40  # per client


def test_concurrent_clients_submitting_signed_trades(tmp_path) -> None:  # type: ignore[no-untyped-def]
    net = Devnet(tmp_path, reporters=0, block_time_ms=100)
    net.start()
    keys = [KeyPair.generate() for _ in range(2 * CLIENTS)]
    net.open_and_fund({f"t{i}": (k, "100000") for i, k in enumerate(keys)})
    results: list[dict[str, object]] = []
    errors: list[Exception] = []
    lock = threading.Lock()

    def client(n: int) -> None:
        a, b = 2 * n, 2 * n + 1
        try:
            with net.client(keys[a]) as cl:
                hashes = []
                for j in range(TRADES):
                    buyer, seller = (a, b) if j % 2 == 0 else (b, a)
                    buy = cl.order(keys[buyer], f"t{buyer}", "ETH-PERP", "buy", W("0.1"), W(2000))
                    sell = cl.order(keys[seller], f"t{seller}", "ETH-PERP", "sell", W("0.1"), W(2000))
                    hashes.append(cl.submit(encode_signed(cl.sign(cl.fill(buy, sell, W("0.1"), W(2000))))))
                outs = [cl.wait(h, 30) for h in hashes]
            with lock:
                results.extend(outs)
        except (NodeError, TimeoutError) as err:
            errors.append(err)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    with net.client() as cl:
        positions = [cl.account(f"t{i}")["positions"] for i in range(2 * CLIENTS)]
    net.stop()
    assert not errors, errors
    assert len(results) == CLIENTS * TRADES
    assert all(r["status"] == "included" for r in results), [r for r in results if r["status"] != "included"]
    assert all(p == [] for p in positions)  # each pair traded back and forth an even number of times
    store = open_store(net.journal, read_only=True)
    traded = [e for row in store.rows() for e in decode_events(row.events) if isinstance(e, Traded)]
    assert len(traded) == CLIENTS * TRADES
    assert verify_journal(store)[0].ok
    store.close()
