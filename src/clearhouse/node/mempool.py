"""A bounded mempool: first in, first out; a full pool refuses (the caller answers 503), never drops."""

from __future__ import annotations

from collections import OrderedDict

from clearhouse.auth.envelope import SignedEnvelope
from clearhouse.node.txs import Pending


class MempoolFull(Exception):
    pass


class Mempool:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._txs: OrderedDict[str, Pending] = OrderedDict()
        self._nonces: set[tuple[str, int]] = set()
        self._seq = 0

    def __len__(self) -> int:
        return len(self._txs)

    def __contains__(self, tx_hash: str) -> bool:
        return tx_hash in self._txs

    def has_nonce(self, signer: str, nonce: int) -> bool:
        return (signer, nonce) in self._nonces

    def add(self, tx_hash: str, signed: SignedEnvelope, raw: bytes) -> Pending:
        if len(self._txs) >= self.capacity:
            raise MempoolFull(f"mempool holds {self.capacity} transactions")
        self._seq += 1
        p = Pending(tx_hash, signed, raw, self._seq)
        self._txs[tx_hash] = p
        env = p.signed.envelope
        self._nonces.add((env.signer, env.nonce))
        return p

    def head(self, n: int) -> list[Pending]:
        """The ``n`` oldest, in arrival order (the block order); they stay until :meth:`remove`."""
        out: list[Pending] = []
        for p in self._txs.values():
            if len(out) >= n:
                break
            out.append(p)
        return out

    def remove(self, pending: list[Pending]) -> None:
        for p in pending:
            if self._txs.pop(p.tx_hash, None) is not None:
                env = p.signed.envelope
                self._nonces.discard((env.signer, env.nonce))
