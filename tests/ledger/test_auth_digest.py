"""The incremental nonce digest equals the digest computed from scratch, and an update never changes
the digest it started from (so a rolled-back block's digest stays valid)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from clearhouse.auth.nonces import NonceBook
from clearhouse.ledger.auth_digest import EMPTY, nonce_digest

# Few distinct first bytes so that buckets hold several signers.
signers = st.builds(
    lambda a, b, rest: f"{a:02x}{b:02x}" + rest.hex(),
    st.integers(0, 2),
    st.integers(0, 2),
    st.binary(min_size=30, max_size=30),
)
windows = st.lists(st.integers(0, 2**64 - 1), max_size=4, unique=True).map(lambda w: tuple(sorted(w)))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.dictionaries(signers, windows, max_size=6), max_size=6))
def test_incremental_updates_equal_the_scratch_digest(steps: list[dict[str, tuple[int, ...]]]) -> None:
    book: dict[str, tuple[int, ...]] = {}
    digest = EMPTY
    for changes in steps:
        before_root = digest.root
        new = digest.update(changes)
        assert digest.root == before_root  # persistent: the old digest is untouched
        for signer, window in changes.items():
            if window:
                book[signer] = window
            else:
                book.pop(signer, None)
        digest = new
        assert digest.root == nonce_digest(NonceBook(dict(book))).root


def test_the_digest_depends_on_every_nonce_and_signer() -> None:
    a, b = "00" * 32, "00" * 31 + "01"
    base = nonce_digest(NonceBook({a: (1, 2), b: (3,)})).root
    assert nonce_digest(NonceBook({a: (1, 2), b: (4,)})).root != base
    assert nonce_digest(NonceBook({a: (1, 2)})).root != base
    assert nonce_digest(NonceBook({b: (1, 2), a: (3,)})).root != base
    assert nonce_digest(NonceBook({b: (3,), a: (1, 2)})).root == base  # insertion order is irrelevant
    assert EMPTY.update({}) is EMPTY


def test_the_registry_digest_follows_accounts_keys_admins_and_reporters() -> None:
    from clearhouse.auth.authorization import AccountKeys, AuthRegistry
    from clearhouse.ledger.auth_digest import registry_digest

    a, b, k = "aa" * 32, "bb" * 32, "cc" * 32
    alice, alice_k, bob = AccountKeys(a), AccountKeys(a, (k,)), AccountKeys(b)
    reg = AuthRegistry((a,), {"alice": alice}, {})
    digest = registry_digest(reg)
    steps = [
        (AuthRegistry((a,), {"alice": alice, "bob": bob}, {}), {"bob"}),
        (AuthRegistry((a,), {"alice": alice_k, "bob": bob}, {}), {"alice"}),
        (AuthRegistry((a, b), {"alice": alice_k, "bob": bob}, {}), set()),
        (AuthRegistry((a, b), {"alice": alice_k, "bob": bob}, {"E": {"s": k}}), set()),
        (AuthRegistry((a, b), {"alice": alice, "bob": bob}, {"E": {"s": k}}), {"alice"}),
    ]
    roots = {digest.root}
    for new, changed in steps:
        old_root = digest.root
        digest = digest.update(new, changed)
        assert digest.root == registry_digest(new).root
        assert old_root in roots
        roots.add(digest.root)
    assert len(roots) == len(steps) + 1  # every step changed the registry, so every root differs
