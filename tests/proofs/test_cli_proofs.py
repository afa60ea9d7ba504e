"""End to end through the CLI: prove, check-proof, tlog sth/inclusion/consistency, verify --expect-sth."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from clearhouse.auth.keys import KeyPair, save_key
from clearhouse.cli.main import app
from clearhouse.demo.session import session_blocks
from clearhouse.journal import open_store
from clearhouse.ledger.engine import Engine

runner = CliRunner()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("proofs")
    journal = d / "demo.sqlite"
    assert runner.invoke(app, ["demo", "--journal", str(journal), "--quiet"]).exit_code == 0
    # a second journal that agrees up to block 3, then rewrites block 4's prices
    forked = d / "forked.sqlite"
    store = open_store(str(forked))
    engine = Engine(journal=store)
    for block in session_blocks():
        if block.height == 4:
            block = type(block)(
                **{
                    **{f: getattr(block, f) for f in block.__struct_fields__},
                    "prices": {k: v + 10**18 for k, v in block.prices.items()},
                }
            )
        engine.apply_block(block)
    store.close()
    keys = d / "keys"
    keys.mkdir(mode=0o700)
    save_key(keys / "node.key", KeyPair.from_seed(b"\x05" * 32))
    return {"dir": d, "journal": journal, "forked": forked, "keys": keys}


def run(*args: str | Path) -> tuple[int, str]:
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


def test_prove_and_check_proof(env: dict[str, Path]) -> None:
    d, journal = env["dir"], env["journal"]
    code, out = run("verify", journal)
    root = out.strip().split()[-1]
    assert run("prove", journal, "alice", "--out", d / "alice.json")[0] == 0
    code, out = run("check-proof", d / "alice.json", "--root", root)
    assert code == 0 and out.startswith("valid: account alice is included")
    code, out = run("check-proof", d / "alice.json", "--root", "ab" * 32)
    assert code == 1 and "invalid:" in out
    # older height: checks against that block's root only
    assert run("prove", journal, "bob", "--height", "2", "--out", d / "bob2.json")[0] == 0
    proof = json.loads((d / "bob2.json").read_text())
    assert proof["height"] == 2
    assert run("check-proof", d / "bob2.json", "--root", proof["state_root"])[0] == 0
    assert run("check-proof", d / "bob2.json", "--root", root)[0] == 1
    # absent account: needs a key
    assert run("prove", journal, "mallory")[0] == 1
    code, _ = run(
        "prove", journal, "mallory", "--key", "node", "--key-dir", env["keys"], "--out", d / "m.json"
    )
    assert code == 0
    code, out = run("check-proof", d / "m.json", "--root", root)
    assert code == 0 and "absent" in out
    # never overwrites
    assert run("prove", journal, "alice", "--out", d / "alice.json")[0] == 2


def test_tlog_and_verify_expect_sth(env: dict[str, Path]) -> None:
    d, journal, forked, keys = env["dir"], env["journal"], env["forked"], env["keys"]
    k = ("--key", "node", "--key-dir", keys)
    assert run("tlog", "sth", journal, *k, "--size", "3", "--out", d / "sth3.json")[0] == 0
    assert run("tlog", "sth", journal, *k, "--out", d / "sth.json")[0] == 0
    assert run("tlog", "consistency", journal, "--old", "3", "--out", d / "c.json")[0] == 0
    code, out = run("check-consistency", d / "sth3.json", d / "sth.json", d / "c.json")
    assert code == 0 and out.startswith("valid")
    assert run("tlog", "inclusion", journal, "2", "--out", d / "i2.json")[0] == 0
    code, out = run("check-inclusion", d / "i2.json", "--sth", d / "sth.json")
    assert code == 0 and "block 2" in out
    # the journal matches its own tree heads
    code, out = run("verify", journal, "--expect-sth", d / "sth3.json")
    assert code == 0 and "extends it" in out
    # the forked journal agrees with the size-3 head but not with the full one (block 4 was rewritten)
    assert run("verify", forked, "--expect-sth", d / "sth3.json")[0] == 0
    code, out = run("verify", forked, "--expect-sth", d / "sth.json")
    assert code == 1 and "rewritten" in out
    # a consistency proof from the forked log does not link the honest heads
    assert run("tlog", "consistency", forked, "--old", "3", "--out", d / "cf.json")[0] == 0
    code, out = run("check-consistency", d / "sth3.json", d / "sth.json", d / "cf.json")
    assert code == 1 and out.startswith("invalid")
    # pinned key mismatch
    code, _ = run("check-inclusion", d / "i2.json", "--sth", d / "sth.json", "--key", "11" * 32)
    assert code == 1


def _tamper(journal: Path, tampered: Path, height: int) -> None:
    """A copy of ``journal`` whose row ``height`` claims another state root (the chain rebuilt)."""
    from clearhouse.journal.rows import GENESIS_HASH, make_row

    src, dst = open_store(str(journal), read_only=True), open_store(str(tampered))
    prev = GENESIS_HASH
    for row in src.rows():
        root = "99" * 32 if row.height == height else row.state_root
        new = make_row(row.height, row.block, row.events, root, prev)
        dst.append(new)
        prev = new.row_hash
    src.close()
    dst.close()


def test_dispute_and_check_step(env: dict[str, Path]) -> None:
    d, journal = env["dir"], env["journal"]
    tampered = d / "tampered.sqlite"
    _tamper(journal, tampered, 6)
    assert run("dispute", journal, journal)[0] == 0
    code, out = run("dispute", journal, tampered, "--out", d / "step.json")
    assert code == 1
    assert "divergence at block 6, transaction 1 of 2" in out
    assert "B (" in out and "DIFFERS" in out
    code, out = run("check-step", d / "step.json")
    assert (
        code == 0
        and out.startswith("valid: block 6")
        and "claim A: matches" in out
        and "claim B: differs" in out
    )
    # any edit of the witness is refused with a one-line reason
    text = (d / "step.json").read_text()
    i = text.index('"pre_state_root":"') + len('"pre_state_root":"')
    flipped = text[:i] + ("1" if text[i] != "1" else "2") + text[i + 1 :]
    (d / "bad-step.json").write_text(flipped)
    code, out = run("check-step", d / "bad-step.json")
    assert code == 1 and out.startswith("invalid:")


def test_dispute_and_check_step_on_a_signed_journal(tmp_path: Path) -> None:
    """``demo --signed`` (every transaction a signed envelope, as the node journals): a tampered root at
    block 6 is disputed at its last transaction and check-step re-executes the signed envelopes."""
    journal, tampered = tmp_path / "signed.sqlite", tmp_path / "tampered.sqlite"
    assert runner.invoke(app, ["demo", "--signed", "--journal", str(journal), "--quiet"]).exit_code == 0
    _tamper(journal, tampered, 6)
    code, out = run("dispute", journal, tampered, "--out", tmp_path / "step.json")
    assert code == 1 and "divergence at block 6, transaction 1 of 2" in out
    step = json.loads((tmp_path / "step.json").read_text())
    assert step["auth"]["chain_id"]
    code, out = run("check-step", tmp_path / "step.json")
    assert code == 0 and "claim A: matches" in out and "claim B: differs" in out
    # the auth root is part of what the pre-state root commits to: a changed nonce window is refused
    step["auth"]["state"] = step["auth"]["state"].replace("1700", "1701", 1)
    (tmp_path / "bad.json").write_text(json.dumps(step))
    code, out = run("check-step", tmp_path / "bad.json")
    assert code == 1 and out.startswith("invalid:")
