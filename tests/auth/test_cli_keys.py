"""``clearhouse keys new`` / ``show`` through the command line."""

from __future__ import annotations

import stat
from pathlib import Path

from typer.testing import CliRunner

from clearhouse.auth.keys import load_key
from clearhouse.cli.main import app

runner = CliRunner()


def _public(output: str) -> str:
    return output.split("public key:")[1].split()[0]


def test_new_then_show_prints_the_same_public_key(tmp_path: Path) -> None:
    made = runner.invoke(app, ["keys", "new", "alice", "--dir", str(tmp_path)])
    assert made.exit_code == 0, made.output
    path = tmp_path / "alice.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    public = _public(made.output)
    assert load_key(path).public_hex == public
    shown = runner.invoke(app, ["keys", "show", "alice", "--dir", str(tmp_path)])
    assert shown.exit_code == 0, shown.output
    assert _public(shown.output) == public and "not sealed" in shown.output


def test_new_refuses_to_overwrite(tmp_path: Path) -> None:
    assert runner.invoke(app, ["keys", "new", "alice", "--dir", str(tmp_path)]).exit_code == 0
    before = (tmp_path / "alice.key").read_bytes()
    again = runner.invoke(app, ["keys", "new", "alice", "--dir", str(tmp_path)])
    assert again.exit_code == 1 and "refusing to overwrite" in again.output
    assert (tmp_path / "alice.key").read_bytes() == before


def test_passphrase_is_prompted_and_seals_the_key(tmp_path: Path) -> None:
    made = runner.invoke(
        app, ["keys", "new", "bob", "--dir", str(tmp_path), "--passphrase"], input="s3cret\ns3cret\n"
    )
    assert made.exit_code == 0, made.output
    assert "s3cret" not in (tmp_path / "bob.key").read_text()
    assert load_key(tmp_path / "bob.key", "s3cret").public_hex == _public(made.output)
    shown = runner.invoke(app, ["keys", "show", "bob", "--dir", str(tmp_path)])
    assert "sealed with a passphrase" in shown.output


def test_key_dir_from_the_environment_and_bad_names(tmp_path: Path) -> None:
    made = runner.invoke(app, ["keys", "new", "carol"], env={"CLEARHOUSE_KEYS_DIR": str(tmp_path / "env")})
    assert made.exit_code == 0, made.output
    assert (tmp_path / "env" / "carol.key").exists()
    assert runner.invoke(app, ["keys", "new", "../evil", "--dir", str(tmp_path)]).exit_code == 2
    assert runner.invoke(app, ["keys", "show", "missing", "--dir", str(tmp_path)]).exit_code == 1
