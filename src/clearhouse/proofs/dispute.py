"""Disputes between two journals: bisect to the first differing block, then to the first differing
transaction, and a one-step proof that anyone re-executes alone.

**Finding the block.** Row hashes chain, so once two journals' rows differ they differ at every later
height: a binary search over heights comparing row hashes finds the first differing row in O(log n) reads.
If the two rows carry different blocks, the journals disagree about the *input* (which transactions were
sequenced), not about execution: a signed tree head and a consistency proof (``clearhouse tlog``) decide
that, and no execution step is produced. Otherwise the block is the same and the claimed outputs (events,
state root) differ.

**Finding the transaction.** A journal commits to a state root per block, not per transaction, so a
journal's per-transaction claims are its events. The disputer re-executes the block from the agreed
pre-state (the state root of block ``h - 1``, equal in both) and finds the first event where a claim
departs from re-execution; the transaction that emitted it is the step. When the events agree and only the
root differs, the step is the block's last transaction, whose post-state is the block's state root.

**The one-step proof** (:class:`StepProof`) carries: the block (so its hash can be matched to a
transparency-log leaf), the step's index, the pre-state root of block ``h - 1`` with what it commits to
(the globals' full state in the data-only witness codec, the account tree root and count and, on a
signed-transaction ledger, the whole auth state whose root is the state root's suffix), every account
the block's prefix up to the step *reads*, each with its Merkle path, the path of the first empty leaf
(where new accounts go), the ids the prefix looked up and did not find (with directory neighbours, see
below), and both journals' claims. ``check_step`` authenticates all of it against the pre-state root,
re-executes the prefix through the real engine on that partial state, and compares.

**Limits.** (1) The journal has no per-transaction roots, so the step re-executes the block's prefix
(transactions ``0..i``), not one transaction on a mid-block root: its cost grows with the step's position
in its block, never with history. (2) Absent accounts are shown with the account directory's neighbours,
which are not covered by the state root (see ``proofs.accounts``): the check reports them as assumptions.
(3) A block whose execution reads every account (``enforcement`` on, or auto-deleveraging that ranks all
positions) cannot be cut to a small witness; the disputer says so instead of emitting a proof.
(4) The globals witness is authenticated by re-encoding: whatever ``encode_globals`` covers is bound to
the root (parameters, assets, markets incl. spec and mark state, prices, pools, oracle feed states incl.
config, the steward and the contract book once used); object attributes it does not encode are taken
from the witness as given. (5) The auth state is carried whole (nonce windows, registry, fill book): its
bucket-tree digests would allow a partial witness, but the engine reads the whole fill book (pruning),
the registry's size and copies both maps, so a partial auth state needs engine changes (docs/proofs.md).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
from typing import Any, Literal

import msgspec

from clearhouse.auth.nonces import ReplayRules
from clearhouse.auth.state import AuthState
from clearhouse.engine.engine import Engine
from clearhouse.journal.rows import GENESIS_HASH, ROW_FORMAT
from clearhouse.journal.store import JournalStore
from clearhouse.ledger.block import Block, decode_block, encode_block, encode_events
from clearhouse.ledger.errors import ClearhouseError
from clearhouse.ledger.model import Account, DebtState, LedgerState
from clearhouse.ledger.state_root import account_leaf, encode_globals, full_state_root
from clearhouse.liquidation.stability_pool import StabilityPoolState
from clearhouse.mechanisms.signing.admission import LedgerAuth, ledger_auth
from clearhouse.proofs import witness
from clearhouse.proofs.accounts import (
    AccountTree,
    Directory,
    DirectoryEntry,
    capacity_of,
    fold_path,
    state_root_from,
)
from clearhouse.proofs.history import engine_at
from clearhouse.proofs.partial_state import PartialAccounts, RecordingAccounts, WitnessIncomplete
from clearhouse.proofs.rfc9162 import EMPTY_ROOT, leaf_hash, verify_inclusion
from clearhouse.proofs.signed_head import hex32 as _hex32
from clearhouse.proofs.tlog import ProofInvalid, row_leaf_data

STEP_VERSION = "clearhouse-step/1"
_EMPTY = bytes(32)
_encoder = msgspec.json.Encoder(order="deterministic")


class DisputeError(ClearhouseError):
    code = "dispute"


# -- the proof document ------------------------------------------------------------------------------------


class WitnessAccount(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: str
    index: int
    #: The account in the witness codec.
    account: str
    siblings: list[str]


class AbsentAccount(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: str
    left: DirectoryEntry | None
    right: DirectoryEntry | None


class Claim(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    journal: str
    #: The journal's row ``h`` as its 136-byte transparency-log leaf data (hex): height, SHA-256 of the
    #: block and of the events, the claimed state root, the previous row's hash.
    row: str
    #: The journal's events of block ``h`` (the JSON text whose SHA-256 is in ``row``).
    events: str


class AuthWitness(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A signed ledger's whole auth state: what :meth:`LedgerAuth.root` covers, without its digests
    (the checker recomputes them from scratch with :meth:`LedgerAuth.create`)."""

    chain_id: str
    require_signatures: bool
    rules: ReplayRules
    #: The :class:`AuthState` (nonce windows, ownership registry with sub-keys and reporters, fill book)
    #: in its own canonical msgspec JSON.
    state: str


class StepProof(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    version: str
    height: int
    #: -1: the block's start (funding, oracles) before any transaction; else the transaction's index.
    tx_index: int
    tx_count: int
    #: Canonical bytes of the whole block (its SHA-256 is in the row and the transparency-log leaf).
    block: str
    #: Row ``h - 1`` (the last one both journals agree on) as leaf data (hex); null when ``h`` is 1.
    parent_row: str | None
    pre_state_root: str
    globals: str
    tree_root: str
    count: int
    accounts: list[WitnessAccount]
    #: Siblings of leaf ``count`` (the first empty slot), when it is inside the tree's capacity.
    append_path: list[str] | None
    directory_root: str | None
    absent: list[AbsentAccount]
    claims: list[Claim]
    #: Signed-transaction ledgers only (omitted otherwise): the pre-state's auth state, whose root is the
    #: state root's 32-byte suffix.
    auth: AuthWitness | None = None


class StepVerdict(msgspec.Struct, frozen=True):
    height: int
    tx_index: int
    step_events: str
    #: The re-executed block root (only when the step is the block's last transaction, else None).
    block_root: str | None
    matches: dict[str, bool]
    assumptions: list[str]
    #: Each claim's row hash: compare with that journal (or its signed tree head) to hold it to the claim.
    row_hashes: dict[str, str]


class Divergence(msgspec.Struct, frozen=True):
    kind: Literal["none", "prefix", "input", "execution"]
    height: int | None
    detail: str
    first_tx: int | None = None


# -- finding the first differing block ---------------------------------------------------------------------


def first_divergence(a: JournalStore, b: JournalStore) -> Divergence:
    """Binary search on row hashes (they chain, so equality is monotone) for the first differing row."""
    na, nb = len(a), len(b)
    n = min(na, nb)

    def same(h: int) -> bool:
        ra, rb = a.get(h), b.get(h)
        return ra is not None and rb is not None and ra.row_hash == rb.row_hash

    lo, hi = 0, n  # rows 1..lo agree; find first h in (lo, hi] that differs
    if n and same(n):
        lo = n
    else:
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if same(mid):
                lo = mid
            else:
                hi = mid - 1
        # lo = last agreeing height
    if lo == n:
        if na == nb:
            return Divergence("none", None, f"the journals agree on all {n} blocks")
        return Divergence("prefix", n + 1, f"one journal has {na} blocks, the other {nb}; they agree on {n}")
    h = lo + 1
    ra, rb = a.get(h), b.get(h)
    assert ra is not None and rb is not None
    if ra.block != rb.block:
        ta, tb = decode_block(ra.block).txs, decode_block(rb.block).txs
        first = next(
            (i for i, (x, y) in enumerate(zip(ta, tb, strict=False)) if x != y), min(len(ta), len(tb))
        )
        return Divergence(
            "input", h, f"block {h} differs in its input (transaction {first}): a sequencing dispute", first
        )
    what = [
        w
        for w, x, y in (("state root", ra.state_root, rb.state_root), ("events", ra.events, rb.events))
        if x != y
    ]
    return Divergence(
        "execution",
        h,
        f"block {h} is the same but its {' and '.join(what)} differ{'s' if len(what) == 1 else ''}",
    )


# -- building the step -------------------------------------------------------------------------------------


def _events_list(raw: bytes) -> list[Any]:
    return list(msgspec.json.decode(raw))


def _tx_count(block: Block) -> int:
    """Transactions of a block: the bare ones, then the signed envelopes (event indices run on)."""
    return len(block.txs) + len(block.signed)


def _prefix_block(block: Block, k: int) -> Block:
    """The block cut after its first ``k`` transactions (bare first, then signed)."""
    return msgspec.structs.replace(
        block, txs=block.txs[:k], signed=block.signed[: max(0, k - len(block.txs))]
    )


def _run(state: LedgerState, block: Block) -> tuple[list[Any], str, Engine]:
    engine = Engine(state=state)
    result = engine.apply_block(block)
    return _events_list(encode_events(result.events)), result.state_root, engine


def make_step(
    a: JournalStore, b: JournalStore, names: tuple[str, str] = ("A", "B")
) -> tuple[Divergence, StepProof]:
    div = first_divergence(a, b)
    if div.kind != "execution" or div.height is None:
        raise DisputeError(div.detail)
    h = div.height
    base = engine_at(a, h - 1)
    pre = base.state
    if pre.params.enforcement != "off":
        raise DisputeError(
            f"block {h}: enforcement is {pre.params.enforcement!r}, so every block scans every account; "
            "a one-step proof would have to carry the whole state"
        )
    row_a, row_b = a.get(h), b.get(h)
    assert row_a is not None and row_b is not None
    block = decode_block(row_a.block)
    n = _tx_count(block)
    prefix_events: list[list[Any]] = []
    for k in range(n + 1):
        events, _, _ = _run(copy.deepcopy(pre), _prefix_block(block, k))
        prefix_events.append(events)
    honest = prefix_events[n]
    claims = {names[0]: _events_list(row_a.events), names[1]: _events_list(row_b.events)}
    departures = [
        next((j for j, (x, y) in enumerate(zip(c, honest, strict=False)) if x != y), min(len(c), len(honest)))
        for c in claims.values()
        if c != honest
    ]
    if departures:
        e = min(departures)
        # slot j (-1 = block start) holds events [len(P(j)), len(P(j+1))) with P(-1) = [] and P(0) its start
        slot = next((j for j in range(-1, n) if e < len(prefix_events[j + 1])), n - 1)
    else:
        slot = n - 1  # only the roots differ: the step is the end of the block
    # record what the prefix up to the step reads
    state = copy.deepcopy(pre)
    engine = Engine(state=state)
    recorder = RecordingAccounts(state.accounts)
    state.accounts = recorder
    engine.apply_block(_prefix_block(block, slot + 1))
    if recorder.reads_all:
        raise DisputeError(
            f"block {h}: executing up to transaction {slot} reads every account; no small witness"
        )
    tree = AccountTree.of_state(pre)
    accounts = [
        WitnessAccount(
            aid,
            pre.accounts[aid].index,
            witness.dumps(pre.accounts[aid]),
            [s.hex() for s in tree.path(pre.accounts[aid].index)],
        )
        for aid in sorted(recorder.found & set(pre.accounts))
    ]
    append_path = None
    if tree.count < capacity_of(tree.count) or tree.count == 0:
        append_path = [s.hex() for s in tree.path(tree.count)] if tree.count < len(tree.levels[0]) else None
    absent_ids = sorted(recorder.missing - set(pre.accounts))
    directory_root = None
    absent: list[AbsentAccount] = []
    if absent_ids:
        directory = Directory.of_state(pre)
        directory_root = directory.root().hex()
        import bisect

        for aid in absent_ids:
            pos = bisect.bisect_left(directory.keys, aid.encode())
            absent.append(
                AbsentAccount(
                    aid,
                    directory.neighbour(pos - 1) if pos > 0 else None,
                    directory.neighbour(pos) if pos < len(directory.keys) else None,
                )
            )
    step_claims = [
        Claim(name, row_leaf_data(row).hex(), row.events.decode())
        for name, row in ((names[0], row_a), (names[1], row_b))
    ]
    parent = a.get(h - 1) if h > 1 else None
    globals_state = dataclasses.replace(pre, accounts={}, auth=None)
    auth = ledger_auth(pre)
    auth_witness = (
        None
        if auth is None
        else AuthWitness(
            auth.chain_id, auth.require_signatures, auth.rules, _encoder.encode(auth.state).decode()
        )
    )
    proof = StepProof(
        STEP_VERSION,
        h,
        slot,
        n,
        row_a.block.decode(),
        None if parent is None else row_leaf_data(parent).hex(),
        base.state_root(),
        witness.dumps(globals_state),
        tree.root().hex(),
        tree.count,
        accounts,
        append_path,
        directory_root,
        absent,
        step_claims,
        auth_witness,
    )
    return Divergence(div.kind, h, div.detail, slot), proof


# -- checking the step -------------------------------------------------------------------------------------


def _leaf(value: str, height: int, what: str) -> bytes:
    try:
        data = bytes.fromhex(value)
    except ValueError:
        raise ProofInvalid(f"{what} is not hex") from None
    if len(data) != 136 or value != value.lower() or int.from_bytes(data[:8], "big") != height:
        raise ProofInvalid(f"{what} is not a 136-byte row of height {height}")
    return data


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"N" + left + right).digest()


def _empty(level: int) -> bytes:
    h = _EMPTY
    for _ in range(level):
        h = _node(h, h)
    return h


def _post_tree_root(
    known: dict[tuple[int, int], bytes], old_count: int, changed: dict[int, bytes], new_count: int
) -> bytes:
    """Root of the tree after ``changed`` leaves, from the nodes the witness proved (sparse update)."""
    depth = capacity_of(new_count).bit_length() - 1
    nodes = dict(known)

    def get(level: int, idx: int) -> bytes:
        v = nodes.get((level, idx))
        if v is not None:
            return v
        if idx << level >= old_count:
            return _empty(level)  # wholly beyond the old count: empty before the step
        raise WitnessIncomplete(f"tree node ({level}, {idx}) is not covered by the witness")

    dirty = set(changed)
    for idx, leaf in changed.items():
        nodes[(0, idx)] = leaf
    for level in range(depth):
        parents = {i // 2 for i in dirty}
        for p in parents:
            nodes[(level + 1, p)] = _node(get(level, 2 * p), get(level, 2 * p + 1))
        dirty = parents
    return get(depth, 0) if depth else (nodes.get((0, 0)) or get(0, 0))


def _check_unencoded_defaults(state: LedgerState) -> None:
    """``encode_globals`` leaves out features not in use (AMM fields without an AMM, the debt and
    stability-pool state before any vault or deposit); the witness must then hold their defaults, or a
    value the root does not cover could steer the re-execution."""
    for mid, m in state.markets.items():
        if not m.amm_account and (m.amm_base or m.amm_quote):
            raise ProofInvalid(f"market {mid}: AMM reserves without an AMM account")
    debt, sp = state.debt, state.stability_pool
    used = state.vault_types or debt.auctions or debt.kicks or debt.hole or state.drawn or state.repaid
    if not used and not sp.used() and witness.dumps(debt) != witness.dumps(DebtState()):
        raise ProofInvalid("debt state differs from its default while the root does not encode it")
    if not sp.used() and witness.dumps(sp) != witness.dumps(StabilityPoolState()):
        raise ProofInvalid("stability pool differs from its default while the root does not encode it")


def _auth_of(w: AuthWitness) -> LedgerAuth:
    """The ledger auth the witness describes, its digests computed from scratch. The state must be in
    canonical encoding (one document per state, as for the block)."""
    try:
        state = msgspec.json.decode(w.state.encode(), type=AuthState)
    except (msgspec.DecodeError, msgspec.ValidationError) as err:
        raise ProofInvalid(f"auth state: {err}") from None
    if _encoder.encode(state).decode() != w.state:
        raise ProofInvalid("auth state is not in canonical encoding")
    return LedgerAuth.create(w.chain_id, w.require_signatures, w.rules, state)


def check_step(proof: StepProof) -> StepVerdict:
    """Authenticate the witness against the pre-state root, re-execute the step, compare the claims.

    Anything malformed (or a hostile witness that breaks the engine's assumptions) is a
    :class:`ProofInvalid`, never a crash."""
    try:
        return _check_step(proof)
    except ProofInvalid:
        raise
    except (
        ValueError,
        OverflowError,
        TypeError,
        KeyError,
        IndexError,
        AttributeError,
        RecursionError,
    ) as err:
        raise ProofInvalid(f"malformed step proof: {type(err).__name__}: {err}") from None


def _check_step(proof: StepProof) -> StepVerdict:
    if proof.version != STEP_VERSION:
        raise ProofInvalid(f"unknown step proof version {proof.version!r}")
    try:
        block = decode_block(proof.block.encode())
    except msgspec.DecodeError as err:
        raise ProofInvalid(f"block does not decode: {err}") from None
    if encode_block(block) != proof.block.encode():
        raise ProofInvalid("block is not in canonical encoding")
    if (
        block.height != proof.height
        or _tx_count(block) != proof.tx_count
        or not -1 <= proof.tx_index < proof.tx_count
    ):
        raise ProofInvalid("height, transaction count or index do not match the block")
    pre_root = _hex32(proof.pre_state_root, "pre-state root")
    tree_root = _hex32(proof.tree_root, "tree root")
    # bind the block and the pre-state root to both journals' rows (and so to their logs and STHs)
    if proof.parent_row is None:
        if proof.height != 1 or proof.pre_state_root != full_state_root(LedgerState()):
            raise ProofInvalid("only block 1 may start from the genesis state, whose root is fixed")
        parent_hash = GENESIS_HASH
    else:
        parent = _leaf(proof.parent_row, proof.height - 1, "parent row")
        if parent[72:104] != pre_root:
            raise ProofInvalid("the pre-state root is not the parent row's state root")
        parent_hash = hashlib.sha256(ROW_FORMAT.encode("ascii") + b"\x00" + parent).hexdigest()
    if len(proof.claims) != 2:
        raise ProofInvalid("a step proof has exactly two claims")
    block_digest = hashlib.sha256(proof.block.encode()).digest()
    claimed: list[tuple[str, list[Any]]] = []
    row_hashes: dict[str, str] = {}
    for c in proof.claims:
        row = _leaf(c.row, proof.height, f"claim {c.journal}")
        if row[8:40] != block_digest:
            raise ProofInvalid(f"claim {c.journal}'s row is for another block")
        if row[40:72] != hashlib.sha256(c.events.encode()).digest():
            raise ProofInvalid(f"claim {c.journal}'s events are not its row's")
        if row[104:136].hex() != parent_hash:
            raise ProofInvalid(f"claim {c.journal}'s row does not follow the parent row")
        try:
            claimed.append((row[72:104].hex(), _events_list(c.events.encode())))
        except msgspec.DecodeError:
            raise ProofInvalid(f"claim {c.journal}'s events are not JSON") from None
        row_hashes[c.journal] = hashlib.sha256(ROW_FORMAT.encode("ascii") + b"\x00" + row).hexdigest()
    try:
        globals_state = witness.loads(proof.globals)
    except ClearhouseError as err:
        raise ProofInvalid(f"globals: {err}") from None
    if not isinstance(globals_state, LedgerState) or globals_state.accounts:
        raise ProofInvalid("globals must be a ledger state without accounts")
    if globals_state.auth is not None:
        raise ProofInvalid("the globals carry an auth state: it travels (and is checked) as `auth`")
    auth = None if proof.auth is None else _auth_of(proof.auth)
    g = hashlib.sha256(b"G" + encode_globals(globals_state)).digest()
    auth_root = b"" if auth is None else auth.root()
    if state_root_from(g, tree_root, proof.count, auth_root) != pre_root:
        raise ProofInvalid("globals, tree root, count and auth root do not hash to the pre-state root")
    globals_state.auth = auth
    _check_unencoded_defaults(globals_state)
    if globals_state.height != proof.height - 1:
        raise ProofInvalid(f"the pre-state is of height {globals_state.height}, not {proof.height - 1}")
    depth = capacity_of(proof.count).bit_length() - 1
    known: dict[tuple[int, int], bytes] = {(depth, 0): tree_root}
    accounts: dict[str, Account] = {}

    def learn(index: int, leaf: bytes, siblings: list[bytes]) -> None:
        if len(siblings) != depth:
            raise ProofInvalid(f"a path in a tree of {proof.count} accounts has {depth} siblings")
        if fold_path(leaf, index, siblings) != tree_root:
            raise ProofInvalid(f"the path of leaf {index} does not lead to the tree root")
        known[(0, index)] = leaf
        h, i = leaf, index
        for level, s in enumerate(siblings):
            known[(level, i ^ 1)] = s
            h = _node(s, h) if i & 1 else _node(h, s)
            i //= 2
            known[(level + 1, i)] = h

    for wa in proof.accounts:
        try:
            account = witness.loads(wa.account)
        except ClearhouseError as err:
            raise ProofInvalid(f"account {wa.id}: {err}") from None
        if not isinstance(account, Account) or account.id != wa.id or account.index != wa.index:
            raise ProofInvalid(f"witness account {wa.id} is not an account with that id and index")
        if not 0 <= wa.index < proof.count or wa.id in accounts:
            raise ProofInvalid(f"witness account {wa.id}: bad or repeated index")
        learn(wa.index, account_leaf(account), [_hex32(s, "sibling") for s in wa.siblings])
        accounts[wa.id] = account
    if proof.append_path is not None:
        if proof.count >= capacity_of(proof.count) and proof.count:
            raise ProofInvalid("an append path for a full tree")
        learn(proof.count, _EMPTY, [_hex32(s, "sibling") for s in proof.append_path])
    assumptions: list[str] = []
    absent: set[str] = set()
    if proof.absent:
        if proof.directory_root is None:
            raise ProofInvalid("absent accounts without a directory root")
        droot = _hex32(proof.directory_root, "directory root")
        if proof.count == 0 and droot != EMPTY_ROOT:
            raise ProofInvalid("with no accounts the directory is the empty tree")
        for a in proof.absent:
            target = a.id.encode()
            for entry in (a.left, a.right):
                if entry is not None:
                    data = (
                        len(entry.account_id.encode()).to_bytes(2, "big")
                        + entry.account_id.encode()
                        + entry.index.to_bytes(8, "big")
                    )
                    path = [_hex32(p, "directory path") for p in entry.path]
                    if not verify_inclusion(entry.position, proof.count, leaf_hash(data), path, droot):
                        raise ProofInvalid(f"directory neighbour {entry.account_id!r} does not verify")
            ok = (a.left is None or a.left.account_id.encode() < target) and (
                a.right is None or target < a.right.account_id.encode()
            )
            adjacent = (
                (a.left is None and a.right is not None and a.right.position == 0)
                or (a.right is None and a.left is not None and a.left.position == proof.count - 1)
                or (a.left is not None and a.right is not None and a.right.position == a.left.position + 1)
                or (a.left is None and a.right is None and proof.count == 0)
            )
            if not (ok and adjacent):
                raise ProofInvalid(f"the neighbours do not show {a.id!r} absent")
            absent.add(a.id)
        if proof.count:  # with count 0 (proven by the root) absence needs no directory
            assumptions.append(
                f"accounts {sorted(absent)} absent per directory root {proof.directory_root} "
                "(not covered by the state root)"
            )

    def execute(k: int) -> tuple[list[Any], LedgerState]:
        state = copy.deepcopy(globals_state)
        state.accounts = copy.deepcopy(accounts)
        engine = Engine(state=state)
        state.accounts = PartialAccounts(state.accounts, proof.count, absent)
        try:
            result = engine.apply_block(_prefix_block(block, k))
        except WitnessIncomplete as err:
            raise ProofInvalid(f"the witness is incomplete: {err}") from None
        except ClearhouseError as err:
            raise ProofInvalid(f"the block prefix does not apply: {err}") from None
        return _events_list(encode_events(result.events)), state

    i = proof.tx_index
    before = execute(i)[0] if i >= 0 else []
    after, post = execute(i + 1)
    step_events = _encoder.encode(after[len(before) :]).decode()
    block_root = None
    if i == proof.tx_count - 1:
        assert isinstance(post.accounts, PartialAccounts)
        changed = {
            acct.index: account_leaf(acct)
            for acct in dict.values(post.accounts)
            if acct.id not in accounts or account_leaf(acct) != account_leaf(accounts[acct.id])
        }
        try:
            new_tree = _post_tree_root(known, proof.count, changed, post.accounts.count)
        except WitnessIncomplete as err:
            raise ProofInvalid(f"the witness is incomplete: {err}") from None
        g2 = hashlib.sha256(b"G" + encode_globals(post)).digest()
        auth2 = ledger_auth(post)
        auth_root2 = b"" if auth2 is None else auth2.root()
        block_root = state_root_from(g2, new_tree, post.accounts.count, auth_root2).hex()
    lo, hi = len(before), len(after)
    matches = {}
    for c, (claimed_root, claimed_events) in zip(proof.claims, claimed, strict=True):
        same_events = _encoder.encode(claimed_events[lo:hi]).decode() == step_events
        matches[c.journal] = same_events and (block_root is None or claimed_root == block_root)
    return StepVerdict(proof.height, i, step_events, block_root, matches, assumptions, row_hashes)


def encode_step(proof: StepProof) -> bytes:
    return _encoder.encode(proof)


def decode_step(data: bytes) -> StepProof:
    try:
        return msgspec.json.decode(data, type=StepProof)
    except (msgspec.DecodeError, msgspec.ValidationError) as err:
        raise ProofInvalid(f"not a step proof: {err}") from None


__all__ = [
    "STEP_VERSION",
    "AuthWitness",
    "Claim",
    "DisputeError",
    "Divergence",
    "PartialAccounts",
    "RecordingAccounts",
    "StepProof",
    "StepVerdict",
    "WitnessIncomplete",
    "check_step",
    "decode_step",
    "encode_step",
    "first_divergence",
    "make_step",
]
