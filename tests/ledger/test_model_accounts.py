"""Accounts without vaults or dated contracts share one read-only empty mapping (memory: 2 x 64 bytes
an account and a clone); writers take the account's own dict; leaves and clones are as before."""

from __future__ import annotations

import copy
import pickle

import pytest

from clearhouse.ledger.contracts import ContractPosition
from clearhouse.ledger.model import NO_ENTRIES, Account, Position, Vault
from clearhouse.ledger.state_root import account_leaf, encode_account


def fresh() -> Account:
    return Account("alice", "ab" * 32, 3, {"USDC": 5 * 10**18}, {"ETH-PERP": Position("ETH-PERP", 10**18)})


def test_a_new_account_shares_the_empty_mapping_and_refuses_writes() -> None:
    a, b = fresh(), fresh()
    assert a.vaults is NO_ENTRIES and a.contracts is NO_ENTRIES and b.vaults is NO_ENTRIES
    assert a.vaults == {} and not a.contracts and a.vaults.get("ETH-A") is None
    with pytest.raises(TypeError):
        a.vaults["ETH-A"] = Vault(1, 0)  # type: ignore[index]
    with pytest.raises(TypeError):
        a.contracts.pop("ETH-F", None)  # type: ignore[attr-defined]
    assert NO_ENTRIES == {}  # nothing leaked into the shared mapping


def test_own_vaults_gives_a_private_dict_and_clones_never_share_one() -> None:
    a = fresh()
    a.own_vaults()["ETH-A"] = Vault(2, 1)
    assert type(a.vaults) is dict and a.vaults == {"ETH-A": Vault(2, 1)} and NO_ENTRIES == {}
    b = a.clone()
    assert b.vaults == a.vaults and b.vaults is not a.vaults
    b.own_vaults()["ETH-B"] = Vault(3, 0)
    assert "ETH-B" not in a.vaults
    b.own_vaults().pop("ETH-A")
    b.own_vaults().pop("ETH-B")
    assert b.clone().vaults is NO_ENTRIES  # an emptied dict clones to the shared one
    c = fresh()
    c.own_contracts()["ETH-F"] = ContractPosition(5, 7)
    assert c.clone().contracts == {"ETH-F": ContractPosition(5, 7)} and fresh().contracts is NO_ENTRIES


def test_leaves_do_not_depend_on_which_empty_mapping_an_account_holds() -> None:
    shared = fresh()
    own = fresh()
    own.own_vaults()
    own.own_contracts()
    assert type(own.vaults) is dict and own.vaults == {}
    assert encode_account(shared) == encode_account(own)
    assert account_leaf(shared) == account_leaf(own) == account_leaf(shared.clone())
    # The perp-only leaf (id, owner, index, balances, positions), pinned as before the shared mapping.
    assert encode_account(shared) == (
        b'["alice","' + b"ab" * 32 + b'",3,[["USDC",5000000000000000000]],'
        b'[["ETH-PERP",1000000000000000000,0,0,false,0,0]]]'
    )


def test_copies_and_pickles_keep_the_shared_mapping() -> None:
    a = fresh()
    assert copy.deepcopy(a).vaults is NO_ENTRIES and copy.copy(NO_ENTRIES) is NO_ENTRIES
    assert pickle.loads(pickle.dumps(a)).contracts is NO_ENTRIES
    assert copy.deepcopy(a) == a
