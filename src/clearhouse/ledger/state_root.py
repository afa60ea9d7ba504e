"""Canonical encoding of the ledger and its state root.

The root is ``sha256(domain || globals_hash || accounts_root || account_count [|| auth_root])``, the
auth root only on ledgers with signed transactions (mechanisms.signing). Globals (parameters,
assets, markets, prices, pools, totals) are small and hashed whole each block. Accounts are leaves of
a binary Merkle tree indexed by creation order, so a block only rehashes the accounts it touched and
their paths: the cost grows with what changed, not with the number of accounts.
"""

from __future__ import annotations

import hashlib
import mmap
from collections.abc import Iterable

import msgspec
import numpy as np

from clearhouse.ledger.contracts import encode_positions
from clearhouse.ledger.model import Account, LedgerState, MarketState
from clearhouse.ledger.tree_kernel import kernels
from clearhouse.liquidation.stability_pool import StabilityPoolState
from clearhouse.oracle.feed import OracleFeed

_DOMAIN = b"clearhouse/state/v1"
_EMPTY = bytes(32)
_encoder = msgspec.json.Encoder(order="deterministic")


def encode_account(account: Account) -> bytes:
    """Canonical bytes of one account (sorted keys, decimal integers)."""
    held, balances = account.positions, account.balances
    positions = [
        [p.market, p.size, p.entry_value, p.funding_snapshot, p.isolated, p.margin, p.last_liquidation]
        for p in (held.values() if len(held) < 2 else [held[m] for m in sorted(held)])
    ]
    fields: list[object] = [
        account.id,
        account.owner,
        account.index,
        sorted(balances.items()) if len(balances) > 1 else list(balances.items()),
        positions,
    ]
    if account.vaults or account.sp is not None:
        # Debt positions extend the leaf only when present: roots of perp-only ledgers are unchanged.
        fields.append([[t, v.ink, v.art] for t, v in sorted(account.vaults.items())])
    if account.sp is not None:
        d = account.sp
        fields.append([d.initial, d.p, d.scale, d.epoch, [list(s) for s in d.sums]])
    if account.contracts:
        # Dated contracts extend the leaf only when held (tagged): other roots are unchanged.
        fields.append(["contracts", encode_positions(account.contracts)])
    return _encoder.encode(fields)


def account_leaf(account: Account) -> bytes:
    return hashlib.sha256(b"A" + encode_account(account)).digest()


class _FrozenEncodings:
    """Canonical bytes of immutable values (frozen msgspec structs: parameters, asset, market and vault
    type specs), by identity, as ``msgspec.Raw`` so an enclosing encoding embeds them verbatim: the
    same bytes as encoding them in place, without re-encoding a spec every block. Entries hold their
    value, so an id is never reused while cached; the table is cleared when it grows past ``limit``."""

    __slots__ = ("_table", "limit")

    def __init__(self, limit: int = 4096) -> None:
        self._table: dict[int, tuple[object, msgspec.Raw]] = {}
        self.limit = limit

    def __call__(self, value: object) -> msgspec.Raw:
        hit = self._table.get(id(value))
        if hit is not None and hit[0] is value:
            return hit[1]
        raw = msgspec.Raw(_encoder.encode(value))
        if len(self._table) >= self.limit:
            self._table.clear()
        self._table[id(value)] = (value, raw)
        return raw


_frozen = _FrozenEncodings()


class _Tail:
    """The globals' slowly changing middle (pools, deposits, withdrawals) as encoded bytes, reused
    while a shallow snapshot of those values still compares equal: checking a few small dicts for
    equality is cheaper than sorting and encoding them, and mutation in place is seen too."""

    __slots__ = ("bytes", "snapshot")

    def __init__(self) -> None:
        self.snapshot: tuple[object, ...] | None = None
        self.bytes = b""

    def get(self, state: LedgerState) -> bytes:
        pools = state.pools
        key = (
            pools.insurance,
            pools.fees,
            pools.bad_debt,
            pools.backstop,
            pools.insurance_used_height,
            pools.insurance_used,
            pools.withdrawals_gated_until,
            state.deposited,
            state.withdrawn,
        )
        if key != self.snapshot:
            self.bytes = _elements(
                [
                    sorted(pools.insurance.items()),
                    sorted(pools.fees.items()),
                    sorted(pools.bad_debt.items()),
                    sorted(pools.backstop.items()),
                    [pools.insurance_used_height, pools.insurance_used, pools.withdrawals_gated_until],
                    sorted(state.deposited.items()),
                    sorted(state.withdrawn.items()),
                ]
            )
            # copies: a later mutation in place must not change the snapshot with it
            self.snapshot = tuple(dict(v) if isinstance(v, dict) else v for v in key)
        return self.bytes


_tail = _Tail()
_UNUSED_POOL = StabilityPoolState()


def _elements(values: list[object]) -> bytes:
    """The encoded elements of a list without its brackets: ``a,b,c``."""
    return _encoder.encode(values)[1:-1]


class _Assets:
    """The listed assets' specs, sorted, as one encoded list, reused while the ``(id, spec)`` pairs
    compare equal (keyed by value: an asset listed, updated or restored in place is seen)."""

    __slots__ = ("key", "raw")

    def __init__(self) -> None:
        self.key: tuple[tuple[str, object], ...] | None = None
        self.raw = msgspec.Raw(b"[]")

    def get(self, state: LedgerState) -> msgspec.Raw:
        assets = state.assets
        key = tuple(assets.items())
        if key != self.key:
            self.raw = msgspec.Raw(_encoder.encode([_frozen(assets[a]) for a in sorted(assets)]))
            self.key = key
        return self.raw


_assets = _Assets()


def _market_row(mid: str, m: MarketState, frozen: _FrozenEncodings) -> list[object]:
    return [
        mid,
        frozen(m.spec),
        m.funding_index,
        m.last_funding_time,
        m.last_trade_price,
        m.last_trade_time,
        m.open_interest,
        m.pnl_pool,
        m.vol_multiplier,
        m.mark_price,
        m.mark.state(),
        *([m.amm_account, m.amm_base, m.amm_quote] if m.amm_account else []),
        m.interval_value,
        m.interval_size,
    ]


def encode_globals(state: LedgerState) -> bytes:
    """Canonical bytes of everything but the accounts.

    Assembled from the encodings of its elements (a JSON array is ``[`` + the elements joined by ``,``
    + ``]``, which is exactly what the encoder writes), so immutable parts (parameters, specs), the
    assets (:class:`_Assets`) and the slowly changing middle (:class:`_Tail`) are not re-encoded every
    block: the same bytes as encoding the whole list at once (``tests/ledger/test_state_root.py``
    compares the two)."""
    frozen = _frozen
    table, prices = state.markets, state.prices
    head = _encoder.encode(
        [
            frozen(state.params),
            state.height,
            state.time,
            state.sequencer_up,
            state.sequencer_up_since,
            _assets.get(state),
            [_market_row(mid, table[mid], frozen) for mid in (sorted(table) if len(table) > 1 else table)],
            sorted(prices.items()) if len(prices) > 1 else list(prices.items()),
        ]
    )
    oracles = state.oracles
    rest: list[object] = [
        [[k, oracle_state_hash(f)] for k, f in sorted(oracles.items())] if oracles else []
    ]
    debt = state.debt
    sp = state.stability_pool
    sp_used = sp != _UNUSED_POOL  # StabilityPoolState.used() without building an empty one each block
    used = state.vault_types or debt.auctions or debt.kicks or debt.hole or state.drawn or state.repaid
    if used or sp_used:
        # Debt positions extend the globals only once used: roots of perp-only ledgers are unchanged.
        rest += [
            [
                [vid, frozen(vt.spec), vt.rate, vt.rho, vt.art, vt.dirt]
                for vid, vt in sorted(state.vault_types.items())
            ],
            [debt.hole, debt.dirt, debt.kicks, [debt.auctions[i] for i in sorted(debt.auctions)]],
            sorted(state.drawn.items()),
            sorted(state.repaid.items()),
        ]
        if sp_used:
            rest.append(sp.encode())
    # The steward and dated contracts extend the globals only once used: existing roots are unchanged.
    if state.steward.used():
        rest.append(["steward", state.steward.encode()])
    if state.contracts.used():
        rest.append(["contracts", state.contracts.encode()])
    # head without its "]", the middle, rest without its "["
    return b"".join((head[:-1], b",", _tail.get(state), b",", _encoder.encode(rest)[1:]))


def oracle_state_hash(feed: OracleFeed) -> str:
    """Hex sha256 of a feed's canonical state (its element of the globals)."""
    return hashlib.sha256(feed.encode_state()).hexdigest()


class MerkleTree:
    """A binary Merkle tree over a growing array of 32-byte leaves with incremental updates.

    Level 0 holds the leaves, padded with zero leaves to the capacity (a power of two); node ``i`` of
    each level above is ``sha256(b"N" + left + right)`` of nodes ``2i`` and ``2i + 1`` below; the last
    level is the root. All levels are one flat buffer of 32-byte nodes (level ``d`` at node
    ``sum_{e < d} capacity >> e``, see :mod:`clearhouse.ledger.tree_kernel`): 32 bytes a node, 2 x
    capacity - 1 nodes, no per-node objects. A root rehashes only the paths above the leaves set
    since the last one, with the compiled loops of ``tree_kernel`` when they are available (once the
    tree has :attr:`kernel_min_capacity` leaves: small trees never load numba) or ``hashlib`` in
    Python otherwise, which gives the same bytes.
    """

    #: Trees at least this wide hash their nodes with ``tree_kernel`` when available (a class
    #: attribute: tests set it to 1 or to a huge number to run either path).
    kernel_min_capacity = 1024

    def __init__(self) -> None:
        self._capacity = 1
        self._nodes: _Buffer = bytearray(32)
        self._count = 0
        #: Leaf positions changed since the last root; ``_full``: rehash every level (after a resize).
        self._dirty: set[int] = set()
        self._full = False

    def __len__(self) -> int:
        return self._count

    def __getstate__(self) -> dict[str, object]:
        """The nodes as ``bytes`` (an mmap cannot be pickled or deep-copied)."""
        state = dict(self.__dict__)
        state["_nodes"] = bytes(self._nodes)
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        raw = state["_nodes"]
        assert isinstance(raw, bytes)
        nodes = _buffer(len(raw))
        nodes[:] = raw
        self.__dict__.update(state)
        self._nodes = nodes

    def _resize(self, capacity: int) -> None:
        """Leaves at ``capacity`` (the first ``count`` kept, zero leaves after); levels rebuilt at root."""
        keep = 32 * min(self._count, capacity)
        nodes = _buffer(32 * (2 * capacity - 1))
        nodes[:keep] = self._nodes[:keep]
        self._nodes, self._capacity = nodes, capacity
        self._full = True

    def set(self, index: int, leaf: bytes) -> None:
        if len(leaf) != 32:
            raise ValueError(f"a leaf is 32 bytes, got {len(leaf)}")
        capacity = self._capacity
        if index >= capacity:
            while capacity <= index:
                capacity *= 2
            self._resize(capacity)
        self._nodes[32 * index : 32 * index + 32] = leaf
        if index >= self._count:
            self._count = index + 1
        if not self._full:
            self._dirty.add(index)

    def truncate(self, count: int) -> None:
        """Drop the leaves at positions >= ``count`` (accounts of a rolled-back block).

        The capacity shrinks back to the smallest power of two holding ``count`` leaves, so the root
        equals that of a tree that never grew (capacity is always ``next_pow2(count)``).
        """
        if count < self._count:
            self._nodes[32 * count : 32 * self._count] = bytes(32 * (self._count - count))
            if not self._full:
                self._dirty.update(range(count, self._count))
            self._count = count
        capacity = 1
        while capacity < self._count:
            capacity *= 2
        if capacity < self._capacity:
            self._resize(capacity)

    def root(self) -> bytes:
        if self._full or self._dirty:
            fast = kernels() if self._capacity >= self.kernel_min_capacity else None
            if fast is not None:
                nodes = np.frombuffer(self._nodes, dtype=np.uint8)
                if self._full:
                    fast[1](nodes, self._capacity)
                else:
                    dirty = np.array(sorted(self._dirty), dtype=np.int64)
                    if dirty[-1] >= self._capacity:  # never: the compiled loop does not check bounds
                        raise ValueError(f"dirty leaf {dirty[-1]} beyond the capacity {self._capacity}")
                    fast[0](nodes, self._capacity, dirty)
            elif self._full:
                _rehash(self._nodes, self._capacity, range(self._capacity))
            else:
                _rehash(self._nodes, self._capacity, self._dirty)
            self._full = False
            self._dirty.clear()
        return bytes(self._nodes[-32:])


_Buffer = bytearray | mmap.mmap
#: Trees at least this many bytes live in their own anonymous mapping (see :func:`_buffer`).
_MAPPED_BYTES = 1 << 16


def _buffer(size: int) -> _Buffer:
    """``size`` zero bytes. Large ones are a private anonymous mapping: freed, a tree outgrown by a
    resize goes back to the system at once (a multi-MiB ``bytearray`` freed inside the heap stayed
    resident, ~5 MiB more peak and steady RSS at 100k accounts), and pages are only backed once written."""
    if size < _MAPPED_BYTES:
        return bytearray(size)
    return mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)


def _rehash(buffer: _Buffer, capacity: int, leaves: Iterable[int]) -> None:
    """Rehash every ancestor of the leaf positions ``leaves`` with ``hashlib``, level by level."""
    sha = hashlib.sha256
    nodes = memoryview(buffer)
    dirty = {i // 2 for i in leaves}
    width, off = capacity, 0
    while width > 1:
        up = off + width
        for p in dirty:
            child = 32 * (off + 2 * p)
            nodes[32 * (up + p) : 32 * (up + p) + 32] = sha(b"N" + nodes[child : child + 64]).digest()
        dirty = {p // 2 for p in dirty}
        width //= 2
        off = up


class StateHasher:
    """Keeps the account tree in step with the ledger; ``root`` hashes only accounts marked dirty."""

    def __init__(self) -> None:
        self._tree = MerkleTree()

    def update(self, accounts: Iterable[Account]) -> None:
        for account in accounts:
            self._tree.set(account.index, account_leaf(account))

    def truncate(self, count: int) -> None:
        self._tree.truncate(count)

    def root(self, state: LedgerState) -> str:
        globals_hash = hashlib.sha256(b"G" + encode_globals(state)).digest()
        tree_root = self._tree.root()
        count = len(self._tree).to_bytes(8, "big")
        # The auth state (signed-transaction ledgers only) is a fixed-length suffix: without it, roots
        # are exactly those of ledgers from before auth existed.
        auth = b"" if state.auth is None else state.auth.root()
        return hashlib.sha256(_DOMAIN + globals_hash + tree_root + count + auth).hexdigest()


def full_state_root(state: LedgerState) -> str:
    """The root computed from scratch (for verification and tests of the incremental path)."""
    hasher = StateHasher()
    hasher.update(state.accounts.values())
    return hasher.root(state)
