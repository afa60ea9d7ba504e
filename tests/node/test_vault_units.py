"""In-process vault tests: ``[genesis.vaults]`` in node.toml and block 1, Lock/Draw through signed
envelopes, ``/v1/vaults`` and ``/v1/auctions``, and the keeper's vault decisions
(:func:`clearhouse.node.vault_keeper.vault_actions`) step by step with worked numbers."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from fastapi.testclient import TestClient

from clearhouse.auth.envelope import encode_signed, sign
from clearhouse.auth.keys import KeyPair
from clearhouse.client import W
from clearhouse.core.fixedpoint import RAY
from clearhouse.ledger import commands as c
from clearhouse.ledger.errors import InvalidValue
from clearhouse.node.api import create_app
from clearhouse.node.config import GenesisConfig, NodeConfig, dump_config, load_config
from clearhouse.node.genesis import genesis_block
from clearhouse.node.service import NodeService
from clearhouse.node.vault_genesis import VaultGenesis
from clearhouse.node.vault_keeper import auction_target, bark_target, redo_target, vault_actions

ADMIN, ALICE, KEEPER = (KeyPair.from_seed(bytes([i]) * 32) for i in (7, 8, 9))
T0 = 1_800_000_000
VAULTS = VaultGenesis(buf="1.1", tau=100, tail=600, tip="10", chip="0.001", dust="100")


def test_config_round_trip_and_default_genesis_unchanged(tmp_path: Path) -> None:
    base = NodeConfig(admin_keys=(ADMIN.public_hex,))
    with_vaults = msgspec.structs.replace(base, genesis=GenesisConfig(vaults=VAULTS))
    path = tmp_path / "node.toml"
    path.write_text(dump_config(with_vaults), encoding="utf-8")
    assert load_config(path) == with_vaults
    plain = genesis_block(base, T0).txs
    listed = genesis_block(with_vaults, T0).txs
    assert not any(isinstance(t, c.ListVaultType) for t in plain)
    # the same perp genesis, plus the collateral asset and the vault type before ConfigureAuth
    extra = [t for t in listed if t not in plain]
    assert [type(t) for t in extra] == [c.ListAsset, c.ListVaultType]
    assert [t for t in listed if t in plain] == list(plain)
    spec = extra[1].vault_type  # type: ignore[attr-defined]
    assert (spec.id, spec.collateral, spec.mat, spec.chop) == ("ETH-A", "ETH", 3 * RAY // 2, W("1.13"))
    bad = msgspec.structs.replace(base, genesis=GenesisConfig(vaults=VaultGenesis(collateral="USDC")))
    with pytest.raises(InvalidValue):
        bad.validate()
    with pytest.raises(InvalidValue):
        msgspec.structs.replace(base, genesis=GenesisConfig(vaults=VaultGenesis(mat="0.9"))).validate()


class Chain:
    def __init__(self, tmp: Path) -> None:
        self.t = float(T0)
        genesis = GenesisConfig(vaults=VAULTS, fixed_price="2000")
        cfg = NodeConfig(data_dir=str(tmp), journal=f"sqlite:///{tmp}/j.sqlite",
                         admin_keys=(ADMIN.public_hex,), genesis=genesis)
        self.svc = NodeService(cfg, clock=lambda: self.t)
        self.api = TestClient(create_app(self.svc, produce=False))
        self.n = 0

    def send(self, key: KeyPair, *cmds: c.AnyCommand) -> None:
        for cmd in cmds:
            self.n += 1
            nonce = int(self.t) * 1000 + self.n
            raw = encode_signed(sign(key, cmd, chain_id="clearhouse-devnet", nonce=nonce,
                                     good_til_time=(int(self.t) + 3600) * 1000))
            assert self.api.post("/v1/txs", content=raw).status_code == 202
        self.step()

    def step(self, seconds: int = 1) -> None:
        self.t += seconds
        assert self.svc.produce() is not None


def test_bark_then_take_with_worked_numbers(tmp_path: Path) -> None:
    ch = Chain(tmp_path)
    ch.send(ALICE, c.OpenAccount("alice", ALICE.public_hex))
    ch.send(KEEPER, c.OpenAccount("k", KEEPER.public_hex))
    ch.send(ADMIN, c.Deposit("alice", "ETH", W("1")), c.Deposit("k", "USDC", W("5000")))
    ch.send(ALICE, c.Lock("alice", "ETH-A", W("1")), c.Draw("alice", "ETH-A", W("1000")))
    state = ch.svc.engine.state
    assert state.accounts["alice"].vaults["ETH-A"].ink == W("1")
    [v] = ch.api.get("/v1/vaults").json()
    assert (v["account"], v["unsafe"], v["debt"] // RAY) == ("alice", False, W("1000"))
    assert vault_actions(state, "k", W("5000"), 0.0, 0.0, 0, set()) == ([], [])

    # 1300 x 1 / 1.5 = 866.67 < 1000: unsafe. The kick pays tip + chip x tab = 10 + 0.001 x 1130 = 11.13
    ch.svc.fixed_price = W("1300")
    ch.step()
    state = ch.svc.engine.state
    assert [x["account"] for x in ch.api.get("/v1/vaults", params={"unsafe": True}).json()] == ["alice"]
    assert "clearhouse_vaults_unsafe 1.0" in ch.api.get("/metrics").text
    actions, _ = vault_actions(state, "k", W("5000"), 0.0, 0.0, 0, set())
    [bark] = actions
    assert bark.target == bark_target("alice", "ETH-A") and bark.command == c.Bark("alice", "ETH-A", "k")
    assert bark.gain == pytest.approx(11.13)
    # not profitable after a cost of 12; never for a target with an open intent
    assert vault_actions(state, "k", W("5000"), 12.0, 0.0, 0, set())[0] == []
    assert vault_actions(state, "k", W("5000"), 0.0, 0.0, 0, {bark.target})[0] == []
    ch.send(KEEPER, bark.command)
    state = ch.svc.engine.state
    assert "ETH-A" not in state.accounts["alice"].vaults
    [a] = ch.api.get("/v1/auctions").json()
    assert (a["id"], a["lot"], a["tab"] // RAY // 10**9, a["needs_redo"]) == (1, W("1"), 1130 * 10**9, False)
    # the auction starts at 1.1 x 1300 = 1430 > 1300 (the keeper's valuation): too expensive to take
    assert a["top"] == 1430 * RAY
    assert vault_actions(state, "k", W("5000"), 0.0, 0.0, 0, set())[0] == []

    # linear over 100 s: after 10 s more the price is below 1300, so the whole lot is worth taking:
    # it pays the tab (1130) for collateral worth 1300 at the oracle
    ch.step(10)
    state = ch.svc.engine.state
    [take] = vault_actions(state, "k", W("5000"), 0.0, 0.0, 0, set())[0]
    assert take.target == auction_target(1)
    assert isinstance(take.command, c.TakeAuction)
    assert (take.command.amount, take.command.max_price, take.commit) == (W("1"), 1300 * RAY, W("1130"))
    # with a 20 % discount the keeper values ETH at 1040 and waits
    assert vault_actions(state, "k", W("5000"), 0.0, 0.0, W("0.2"), set())[0] == []
    # with only 500 of capital it buys what 500 pays for: less than the lot, the gain scales down
    [small] = vault_actions(state, "k", W("500"), 0.0, 0.0, 0, set())[0]
    assert isinstance(small.command, c.TakeAuction) and small.command.amount < W("1")
    ch.send(KEEPER, take.command)
    state = ch.svc.engine.state
    assert ch.api.get("/v1/auctions").json() == [] and not state.debt.auctions
    metrics = ch.api.get("/metrics").text
    assert "clearhouse_auctions_kicked 1.0" in metrics and "clearhouse_auctions_open 0.0" in metrics
    assert state.accounts["k"].balances["USDC"] == W("5000") + W("11.13") - W("1130")
    assert state.accounts["alice"].balances["ETH"] > 0  # the collateral left over is refunded
    ch.svc.close()


def test_redo_of_a_stuck_auction(tmp_path: Path) -> None:
    ch = Chain(tmp_path)
    ch.send(ALICE, c.OpenAccount("alice", ALICE.public_hex))
    ch.send(KEEPER, c.OpenAccount("k", KEEPER.public_hex))
    ch.send(ADMIN, c.Deposit("alice", "ETH", W("1")))
    ch.send(ALICE, c.Lock("alice", "ETH-A", W("1")), c.Draw("alice", "ETH-A", W("1000")))
    ch.svc.fixed_price = W("1300")
    ch.step()
    ch.send(KEEPER, c.Bark("alice", "ETH-A", "k"))
    # the keeper has no capital to take; 70 s on, the price is below cusp (0.4 x 1430): the sale needs a redo
    ch.step(70)
    [a] = ch.api.get("/v1/auctions").json()
    assert a["needs_redo"] is True
    actions, _ = vault_actions(ch.svc.engine.state, "k", 0, 0.0, 0.0, 0, set())
    [redo] = actions
    assert (redo.kind, redo.command, redo.target) == ("redo", c.RedoAuction(1, "k"), redo_target(1))
    assert redo.gain == pytest.approx(11.13)  # tip + chip x tab, the tab being above the dust's chost
    ch.send(KEEPER, redo.command)
    [a] = ch.api.get("/v1/auctions").json()
    assert (a["needs_redo"], a["top"], a["tic"]) == (False, 1430 * RAY, ch.svc.engine.state.time)
    ch.svc.close()
