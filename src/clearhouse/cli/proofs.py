"""Proof commands: ``prove`` / ``check-proof`` (accounts), ``tlog ...`` and ``check-consistency`` /
``check-inclusion`` (the journal's transparency log), and the ``verify --expect-sth`` check.

Every ``check-*`` command reads nothing but its arguments: exit 0 and ``valid: ...`` on stdout, or exit 1
and one line ``invalid: reason`` on stderr (2 for unreadable input). ``register(app)`` adds the
commands to the main application (``cli/main.py`` calls it).
"""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console

from clearhouse.cli.errors import err_console, fail
from clearhouse.ledger.errors import ClearhouseError

console = Console(soft_wrap=True, highlight=False)
tlog_app = typer.Typer(
    help="The journal's transparency log (RFC 9162): tree heads and proofs.", no_args_is_help=True
)

_JOURNAL_HELP = "Journal location (path, sqlite:///..., postgresql://...); opened read-only."
KEY_DIR_OPTION = typer.Option(
    None, "--key-dir", help="Key directory (default $CLEARHOUSE_KEYS_DIR or ~/.clearhouse/keys)."
)


def invalid(reason: str) -> NoReturn:
    err_console.print(f"invalid: {reason}", markup=False)
    raise typer.Exit(1)


def read_input(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        fail(f"cannot read {path}: {err.strerror}")


def write_output(data: bytes, out: Path | None) -> None:
    """Write to ``out`` (never over an existing file) or print to stdout."""
    if out is None:
        console.print(data.decode(), markup=False)
        return
    try:
        with open(out, "xb") as fh:
            fh.write(data + b"\n")
    except FileExistsError:
        fail(f"{out} exists; refusing to overwrite it")
    except OSError as err:
        fail(f"cannot write {out}: {err.strerror}")
    console.print(f"wrote {out}", markup=False)


def _load_key(name: str, key_dir: Path | None):  # type: ignore[no-untyped-def]
    from clearhouse.auth.errors import KeyFileError
    from clearhouse.auth.keys import is_sealed, load_key
    from clearhouse.cli.keys import key_path

    path = key_path(name, key_dir)
    try:
        secret = typer.prompt("passphrase", hide_input=True) if is_sealed(path) else None
        return load_key(path, secret)
    except KeyFileError as err:
        fail(str(err))


def _hex64(value: str, option: str) -> str:
    v = value.lower()
    if len(v) != 64 or any(c not in "0123456789abcdef" for c in v):
        fail(f"{option} must be 64 hex characters, got {value!r}")
    return v


# -- accounts ---------------------------------------------------------------------------------------------


def prove(
    journal: str = typer.Argument(..., help=_JOURNAL_HELP),
    account: str = typer.Argument(..., help="Account id."),
    height: int | None = typer.Option(None, "--height", min=1, help="Block height (default: the last)."),
    out: Path | None = typer.Option(None, "--out", help="Write the proof here (never overwrites)."),
    key: str | None = typer.Option(
        None, "--key", help="Key NAME that signs a directory head (needed only when the account is absent)."
    ),
    key_dir: Path | None = KEY_DIR_OPTION,
) -> None:
    """Inclusion (or, with --key, non-inclusion) proof of ACCOUNT against the state root at a height."""
    from clearhouse.cli.journal_access import open_read_only
    from clearhouse.proofs.accounts import encode_proof, prove_account
    from clearhouse.proofs.history import engine_at

    with open_read_only(journal) as store:
        try:
            engine = engine_at(store, height)
        except ClearhouseError as err:
            fail(str(err), 1)
    if engine.state.height == 0:
        fail(f"{journal} holds no blocks", 1)
    signer = _load_key(key, key_dir) if key is not None and account not in engine.state.accounts else None
    try:
        proof = prove_account(engine.state, account, key=signer)
    except ClearhouseError as err:
        fail(str(err), 1)
    assert proof.state_root == engine.state_root()
    write_output(encode_proof(proof), out)


def check_proof(
    proof_file: Path = typer.Argument(..., help="Account proof JSON."),
    root: str = typer.Option(..., "--root", help="The state root (64 hex) from an independent record."),
    key: str | None = typer.Option(
        None, "--key", help="Expected signer of a non-inclusion proof's directory head (hex)."
    ),
) -> None:
    """Check an account proof against a state root with nothing else (exit 0 valid, 1 invalid)."""
    from clearhouse.proofs.accounts import check_account_proof, decode_proof

    data = read_input(proof_file)
    try:
        verdict = check_account_proof(decode_proof(data), _hex64(root, "--root"), key=key)
    except ClearhouseError as err:
        invalid(str(err))
    console.print(verdict, markup=False)


# -- transparency log -------------------------------------------------------------------------------------


def _view(journal: str, size: int | None):  # type: ignore[no-untyped-def]
    from clearhouse.cli.journal_access import open_read_only
    from clearhouse.proofs.tlog import LogView

    with open_read_only(journal) as store:
        report = store.verify_chain()
        if not report.ok:
            fail(f"journal chain is broken at block {report.bad_height}: {report.detail}", 1)
        try:
            view = LogView.of_store(store, size)
        except ClearhouseError as err:
            fail(str(err), 1)
    if not len(view):
        fail(f"{journal} holds no blocks", 1)
    return view


@tlog_app.command("sth")
def tlog_sth(
    journal: str = typer.Argument(..., help=_JOURNAL_HELP),
    key: str = typer.Option(..., "--key", help="Key NAME of the node that signs the tree head."),
    size: int | None = typer.Option(None, "--size", min=1, help="Tree size (default: every row)."),
    out: Path | None = typer.Option(None, "--out", help="Write the STH here (never overwrites)."),
    key_dir: Path | None = KEY_DIR_OPTION,
) -> None:
    """Sign a tree head over the journal's first SIZE rows."""
    from clearhouse.proofs.tlog import encode, sign_tree_head

    view = _view(journal, size)
    write_output(encode(sign_tree_head(view.tree_head(size), _load_key(key, key_dir))), out)


@tlog_app.command("inclusion")
def tlog_inclusion(
    journal: str = typer.Argument(..., help=_JOURNAL_HELP),
    height: int = typer.Argument(..., min=1, help="Block whose row is proven."),
    size: int | None = typer.Option(None, "--size", min=1, help="Tree size (default: every row)."),
    out: Path | None = typer.Option(None, "--out"),
) -> None:
    """Inclusion proof of block HEIGHT's row in the log of SIZE rows."""
    from clearhouse.proofs.tlog import encode

    view = _view(journal, size)
    try:
        write_output(encode(view.inclusion(height, size)), out)
    except ClearhouseError as err:
        fail(str(err), 1)


@tlog_app.command("consistency")
def tlog_consistency(
    journal: str = typer.Argument(..., help=_JOURNAL_HELP),
    old: int = typer.Option(..., "--old", min=1, help="Size of the earlier tree."),
    new: int | None = typer.Option(None, "--new", min=1, help="Size of the later tree (default: every row)."),
    out: Path | None = typer.Option(None, "--out"),
) -> None:
    """Consistency proof that the log of OLD rows is a prefix of the log of NEW rows."""
    from clearhouse.proofs.tlog import encode

    view = _view(journal, new)
    try:
        write_output(encode(view.consistency(old, new)), out)
    except ClearhouseError as err:
        fail(str(err), 1)


def _sth(path: Path, key: str | None):  # type: ignore[no-untyped-def]
    from clearhouse.proofs.tlog import SignedTreeHead, check_tree_head, decode

    try:
        return check_tree_head(decode(read_input(path), SignedTreeHead), key)
    except ClearhouseError as err:
        invalid(f"{path}: {err}")


def check_consistency_cmd(
    old_sth: Path = typer.Argument(..., help="The earlier signed tree head."),
    new_sth: Path = typer.Argument(..., help="The later signed tree head."),
    proof: Path = typer.Argument(..., help="Consistency proof JSON (`clearhouse tlog consistency`)."),
    key: str | None = typer.Option(None, "--key", help="Expected signer of both tree heads (hex)."),
) -> None:
    """Check that NEW_STH's log extends OLD_STH's without rewriting it (exit 0 valid, 1 invalid)."""
    from clearhouse.proofs.tlog import ConsistencyProof, check_consistency, decode

    old, new = _sth(old_sth, key), _sth(new_sth, key)
    try:
        check_consistency(decode(read_input(proof), ConsistencyProof), old, new)
    except ClearhouseError as err:
        invalid(str(err))
    console.print(
        f"valid: the log of {new.tree_size} rows extends the log of {old.tree_size} rows", markup=False
    )


def check_inclusion_cmd(
    proof: Path = typer.Argument(..., help="Inclusion proof JSON (`clearhouse tlog inclusion`)."),
    sth: Path = typer.Option(..., "--sth", help="Signed tree head the proof must lead to."),
    key: str | None = typer.Option(None, "--key", help="Expected signer of the tree head (hex)."),
) -> None:
    """Check that a block's row is in the log of a signed tree head (exit 0 valid, 1 invalid)."""
    from clearhouse.proofs.tlog import InclusionProof, check_inclusion, decode

    head = _sth(sth, key)
    try:
        p = decode(read_input(proof), InclusionProof)
        if p.tree_size != head.tree_size:
            invalid(f"the proof is for a log of {p.tree_size} rows, the tree head has {head.tree_size}")
        state_root = check_inclusion(p, head.root_hash)
    except ClearhouseError as err:
        invalid(str(err))
    console.print(
        f"valid: block {p.height} (state root {state_root}) is in the log of {head.tree_size} rows",
        markup=False,
    )


def check_journal_against_sth(journal: str, sth_path: Path, blocks: int) -> str:
    """``verify --expect-sth``: the journal's first ``tree_size`` rows are the signed log (exit 1 if not)."""
    from clearhouse.proofs.tlog import SignedTreeHead, check_tree_head, decode

    try:
        head = check_tree_head(decode(read_input(sth_path), SignedTreeHead))
    except ClearhouseError as err:
        fail(f"--expect-sth {sth_path}: {err}", 1)
    if blocks < head.tree_size:
        fail(f"FAILED: the journal ends at block {blocks}, the signed tree head covers {head.tree_size}", 1)
    view = _view(journal, head.tree_size)
    ours = view.tree_head(head.tree_size)
    if ours.root_hash != head.root_hash:
        fail(
            f"FAILED: the journal's first {head.tree_size} rows do not match the signed tree head "
            f"(log root {ours.root_hash} != signed {head.root_hash}): history was rewritten",
            1,
        )
    extra = f"; the journal extends it by {blocks - head.tree_size} blocks" if blocks > head.tree_size else ""
    signer = decode(read_input(sth_path), SignedTreeHead).signer
    return f"signed tree head of {head.tree_size} rows (signer {signer}) matches{extra}"


def register(app: typer.Typer) -> None:
    """Add this module's commands to the ``clearhouse`` app."""
    app.command("prove")(prove)
    app.command("check-proof")(check_proof)
    app.command("check-consistency")(check_consistency_cmd)
    app.command("check-inclusion")(check_inclusion_cmd)
    app.add_typer(tlog_app, name="tlog")

