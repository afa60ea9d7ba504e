"""Account inclusion and non-inclusion proofs against a block's state root.

**Inclusion** is proven against the root the engine already computes (``ledger.state_root``), unchanged:

    state_root = SHA-256("clearhouse/state/v1" || globals_hash || tree_root || u64 count)
    tree       = binary tree over next_pow2(count) leaves (1 when count <= 1), in creation order;
                 leaf i = SHA-256("A" || encode_account(account with index i)), empty leaves are 32 zero
                 bytes; node = SHA-256("N" || left || right)

A proof carries the account's canonical bytes, the siblings on its path, the globals' canonical bytes
(their hash is in the root; they show the height, prices and markets) and ``count``;
anyone recomputes the root with SHA-256 alone.

**Non-inclusion** cannot be proven against that root: leaves are in creation order, not sorted by id,
so nothing short of every leaf shows an id is absent. Rather than change the root, a node publishes an
*account directory*: an RFC 9162 tree over the ids sorted by their UTF-8 bytes (leaf data ``u16 len ||
id || u64 index``), and signs a directory head binding ``(height, state_root, count, directory_root)``.
A non-inclusion proof is the signed head plus the two neighbours that would surround the id (with their
directory inclusion paths). It is only as strong as the signature: the directory is not covered by the
state root, so a node could sign a false directory; but that lie is then provable (the signed head plus
an inclusion proof of the "absent" account against the same state root), and an auditor with the state
checks a directory fully in O(N). ``check_account_proof`` says which kind of guarantee it gave.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Literal

import msgspec

from clearhouse.auth.keys import KeyPair
from clearhouse.auth.signing import check_public_key, verify_signature
from clearhouse.ledger.errors import ClearhouseError
from clearhouse.ledger.model import LedgerState
from clearhouse.ledger.state_root import account_leaf, encode_account, encode_globals
from clearhouse.proofs.rfc9162 import inclusion_path, leaf_hash, root_of, verify_inclusion
from clearhouse.proofs.tlog import ProofInvalid

STATE_DOMAIN = b"clearhouse/state/v1"
DIRECTORY_DOMAIN = b"clearhouse/accounts-dir/v1\x00"
PROOF_VERSION = "clearhouse-account-proof/1"
_EMPTY = bytes(32)
_encoder = msgspec.json.Encoder(order="deterministic")


def globals_hash(state: LedgerState) -> bytes:
    return hashlib.sha256(b"G" + encode_globals(state)).digest()


def state_root_from(globals_digest: bytes, tree_root: bytes, count: int, auth_root: bytes = b"") -> bytes:
    """The engine's state root (``ledger.state_root.StateHasher.root``); a signed-transaction ledger
    appends its auth state's 32-byte root."""
    return hashlib.sha256(
        STATE_DOMAIN + globals_digest + tree_root + count.to_bytes(8, "big") + auth_root
    ).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"N" + left + right).digest()


def capacity_of(count: int) -> int:
    cap = 1
    while cap < count:
        cap *= 2
    return cap


class AccountTree:
    """All levels of the engine's account tree, rebuilt from leaves (the root equals the engine's)."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self.count = len(leaves)
        level = list(leaves) + [_EMPTY] * (capacity_of(self.count) - self.count)
        self.levels = [level]
        while len(level) > 1:
            level = [_node(level[i], level[i + 1]) for i in range(0, len(level), 2)]
            self.levels.append(level)

    @classmethod
    def of_state(cls, state: LedgerState) -> AccountTree:
        leaves = [b""] * len(state.accounts)
        for account in state.accounts.values():
            leaves[account.index] = account_leaf(account)
        return cls(leaves)

    def root(self) -> bytes:
        return self.levels[-1][0]

    def path(self, index: int) -> list[bytes]:
        out = []
        for level in self.levels[:-1]:
            out.append(level[index ^ 1])
            index //= 2
        return out


def fold_path(leaf: bytes, index: int, siblings: Sequence[bytes]) -> bytes:
    h = leaf
    for s in siblings:
        h = _node(s, h) if index & 1 else _node(h, s)
        index //= 2
    return h


# -- the directory ----------------------------------------------------------------------------------


def directory_leaf_data(account_id: str, index: int) -> bytes:
    raw = account_id.encode()
    return len(raw).to_bytes(2, "big") + raw + index.to_bytes(8, "big")


class Directory:
    """Account ids sorted by UTF-8 bytes, as an RFC 9162 tree."""

    def __init__(self, entries: Iterable[tuple[str, int]]) -> None:
        self.entries = sorted(entries, key=lambda e: e[0].encode())
        self.keys = [e[0].encode() for e in self.entries]
        self.leaves = [leaf_hash(directory_leaf_data(i, x)) for i, x in self.entries]

    @classmethod
    def of_state(cls, state: LedgerState) -> Directory:
        return cls((a.id, a.index) for a in state.accounts.values())

    def root(self) -> bytes:
        return root_of(self.leaves)

    def neighbour(self, position: int) -> DirectoryEntry:
        account_id, index = self.entries[position]
        path = inclusion_path(position, self.leaves)
        return DirectoryEntry(position, account_id, index, [p.hex() for p in path])


class DirectoryHead(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    height: int
    state_root: str
    count: int
    directory_root: str


class SignedDirectoryHead(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    head: DirectoryHead
    signer: str
    signature: str


class DirectoryEntry(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    position: int
    account_id: str
    index: int
    path: list[str]


def _directory_digest(head: DirectoryHead) -> bytes:
    return hashlib.sha256(DIRECTORY_DOMAIN + _encoder.encode(head)).digest()


def sign_directory_head(head: DirectoryHead, key: KeyPair) -> SignedDirectoryHead:
    return SignedDirectoryHead(head, key.public_hex, key.sign(_directory_digest(head)).hex())


# -- the proof document ---------------------------------------------------------------------------------


class AccountProof(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Self-contained: ``check_account_proof(proof, root)`` needs nothing else."""

    version: str
    kind: Literal["inclusion", "non-inclusion"]
    account_id: str
    height: int
    state_root: str
    #: ``encode_globals`` of the state (UTF-8 JSON text): its hash is part of the root, and it shows the
    #: height (element 1), the block time, markets and prices the account is valued with.
    globals: str
    count: int
    #: inclusion: the account's canonical bytes (``encode_account``, UTF-8 JSON text), its leaf index and
    #: the sibling hashes from the leaf up.
    account: str | None = None
    index: int | None = None
    siblings: list[str] | None = None
    #: non-inclusion: the account tree's root (so the root proves ``count``, the directory's size), the
    #: signed directory head and the neighbours (none, one or two).
    tree_root: str | None = None
    directory: SignedDirectoryHead | None = None
    left: DirectoryEntry | None = None
    right: DirectoryEntry | None = None
    #: Signed-transaction ledgers: the auth state's root (registry, nonces, fill book), the root's
    #: fixed-length suffix. None for ledgers without auth.
    auth_root: str | None = None


def prove_account(
    state: LedgerState,
    account_id: str,
    *,
    tree: AccountTree | None = None,
    key: KeyPair | None = None,
    directory: Directory | None = None,
) -> AccountProof:
    """Inclusion proof if the account exists; else a non-inclusion proof signed with ``key``."""
    tree = tree if tree is not None else AccountTree.of_state(state)
    globals_bytes = encode_globals(state)
    g = hashlib.sha256(b"G" + globals_bytes).digest()
    auth = b"" if state.auth is None else state.auth.root()
    root = state_root_from(g, tree.root(), tree.count, auth).hex()
    common = {
        "auth_root": auth.hex() if auth else None,
        "version": PROOF_VERSION,
        "account_id": account_id,
        "height": state.height,
        "state_root": root,
        "globals": globals_bytes.decode(),
        "count": tree.count,
    }
    account = state.accounts.get(account_id)
    if account is not None:
        return AccountProof(
            kind="inclusion",
            account=encode_account(account).decode(),
            index=account.index,
            siblings=[s.hex() for s in tree.path(account.index)],
            **common,  # type: ignore[arg-type]
        )
    if key is None:
        raise ProofInvalid(
            f"account {account_id!r} does not exist: a non-inclusion proof needs a signing key"
        )
    directory = directory if directory is not None else Directory.of_state(state)
    head = DirectoryHead(state.height, root, tree.count, directory.root().hex())
    target = account_id.encode()
    import bisect

    pos = bisect.bisect_left(directory.keys, target)
    left = directory.neighbour(pos - 1) if pos > 0 else None
    right = directory.neighbour(pos) if pos < len(directory.keys) else None
    return AccountProof(
        kind="non-inclusion",
        tree_root=tree.root().hex(),
        directory=sign_directory_head(head, key),
        left=left,
        right=right,
        **common,  # type: ignore[arg-type]
    )


def _hex32(value: object, what: str) -> bytes:
    if not isinstance(value, str) or len(value) != 64 or value != value.lower():
        raise ProofInvalid(f"{what} must be 64 lower-case hex digits")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise ProofInvalid(f"{what} is not hex") from None


def check_account_proof(proof: AccountProof, root: str, key: str | None = None) -> str:
    """Raise :class:`ProofInvalid` unless ``proof`` holds against ``root``; return a one-line verdict.

    Any malformed value (negative integers, wrong shapes) is a :class:`ProofInvalid` too, never a crash."""
    try:
        return _check_account_proof(proof, root, key)
    except ProofInvalid:
        raise
    except (ValueError, OverflowError, TypeError, KeyError, IndexError, AttributeError) as err:
        raise ProofInvalid(f"malformed proof: {err}") from None


def _check_account_proof(proof: AccountProof, root: str, key: str | None) -> str:
    if proof.version != PROOF_VERSION:
        raise ProofInvalid(f"unknown proof version {proof.version!r}")
    expected = _hex32(root.lower(), "root")
    if proof.state_root != root.lower():
        raise ProofInvalid(f"the proof is for state root {proof.state_root}, not {root.lower()}")
    globals_bytes = proof.globals.encode()
    g = hashlib.sha256(b"G" + globals_bytes).digest()
    try:
        height = msgspec.json.decode(globals_bytes)[1]
    except (msgspec.DecodeError, IndexError, KeyError, TypeError):
        raise ProofInvalid("globals are not the engine's encoding") from None
    if height != proof.height:
        raise ProofInvalid(f"the globals are of height {height}, not {proof.height}")
    if type(proof.count) is not int or not 0 <= proof.count < 2**64:
        raise ProofInvalid("count must be a u64")
    auth = b"" if proof.auth_root is None else _hex32(proof.auth_root, "auth root")
    if proof.kind == "inclusion":
        if proof.account is None or proof.index is None or proof.siblings is None:
            raise ProofInvalid("an inclusion proof needs account, index and siblings")
        if proof.tree_root is not None or proof.directory is not None or proof.left or proof.right:
            raise ProofInvalid("an inclusion proof carries no tree root, directory or neighbours")
        raw = proof.account.encode()
        try:
            fields = msgspec.json.decode(raw)
        except msgspec.DecodeError:
            raise ProofInvalid("account bytes are not JSON") from None
        if not (isinstance(fields, list) and len(fields) >= 3 and fields[0] == proof.account_id):
            raise ProofInvalid(f"the account bytes are not account {proof.account_id!r}'s")
        if fields[2] != proof.index or not 0 <= proof.index < proof.count:
            raise ProofInvalid(f"index {proof.index} is not the account's or not below count {proof.count}")
        if len(proof.siblings) != capacity_of(proof.count).bit_length() - 1:
            raise ProofInvalid(
                f"a tree of {proof.count} accounts needs {capacity_of(proof.count).bit_length() - 1} siblings"
            )
        siblings = [_hex32(s, "sibling") for s in proof.siblings]
        tree_root = fold_path(hashlib.sha256(b"A" + raw).digest(), proof.index, siblings)
        if state_root_from(g, tree_root, proof.count, auth) != expected:
            raise ProofInvalid("the path does not lead to the state root")
        return f"valid: account {proof.account_id} is included at index {proof.index} (height {proof.height})"
    if proof.kind != "non-inclusion" or proof.directory is None or proof.tree_root is None:
        raise ProofInvalid("a non-inclusion proof needs the tree root and a signed directory head")
    if proof.account is not None or proof.index is not None or proof.siblings is not None:
        raise ProofInvalid("a non-inclusion proof carries no account, index or siblings")
    if state_root_from(g, _hex32(proof.tree_root, "tree root"), proof.count, auth) != expected:
        raise ProofInvalid("globals, tree root and count do not hash to the state root")
    signed = proof.directory
    head = signed.head
    if (head.state_root, head.count, head.height) != (proof.state_root, proof.count, proof.height):
        raise ProofInvalid("the directory head is for another state")
    try:
        check_public_key(signed.signer)
        verify_signature(signed.signer, _directory_digest(head), signed.signature, what="directory head")
    except ClearhouseError as err:
        raise ProofInvalid(str(err)) from None
    if key is not None and signed.signer != key.lower():
        raise ProofInvalid(f"directory head signed by {signed.signer}, not the expected key")
    droot = _hex32(head.directory_root, "directory root")
    # the root proves count (the directory's size); the directory itself is bound by the signature only
    target = proof.account_id.encode()
    n = head.count
    for entry, side in ((proof.left, "left"), (proof.right, "right")):
        if entry is None:
            continue
        data = directory_leaf_data(entry.account_id, entry.index)
        path = [_hex32(p, "directory path entry") for p in entry.path]
        if not verify_inclusion(entry.position, n, leaf_hash(data), path, droot):
            raise ProofInvalid(f"{side} neighbour {entry.account_id!r} is not in the directory")
    left, right = proof.left, proof.right
    if left is not None and not left.account_id.encode() < target:
        raise ProofInvalid("the left neighbour does not sort before the account")
    if right is not None and not target < right.account_id.encode():
        raise ProofInvalid("the right neighbour does not sort after the account")
    if left is None and right is None:
        if n != 0:
            raise ProofInvalid("no neighbours, but the directory is not empty")
    elif left is None:
        if right is None or right.position != 0:
            raise ProofInvalid("without a left neighbour the right one must be the first entry")
    elif right is None:
        if left.position != n - 1:
            raise ProofInvalid("without a right neighbour the left one must be the last entry")
    elif right.position != left.position + 1:
        raise ProofInvalid("the neighbours are not adjacent")
    return (
        f"valid: account {proof.account_id} is absent at height {proof.height} "
        f"(directory signed by {signed.signer}; bound to the root by that signature, not by the root)"
    )


def encode_proof(proof: AccountProof) -> bytes:
    return _encoder.encode(proof)


def decode_proof(data: bytes) -> AccountProof:
    try:
        return msgspec.json.decode(data, type=AccountProof)
    except (msgspec.DecodeError, msgspec.ValidationError) as err:
        raise ProofInvalid(f"not an account proof: {err}") from None


__all__ = [
    "AccountProof",
    "AccountTree",
    "Directory",
    "DirectoryEntry",
    "DirectoryHead",
    "SignedDirectoryHead",
    "capacity_of",
    "check_account_proof",
    "decode_proof",
    "encode_proof",
    "fold_path",
    "globals_hash",
    "prove_account",
    "sign_directory_head",
    "state_root_from",
]
