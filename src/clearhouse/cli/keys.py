"""``clearhouse keys new NAME`` / ``clearhouse keys show NAME``: ed25519 key files for signing.

Keys live in ``--dir``, else ``$CLEARHOUSE_KEYS_DIR``, else ``~/.clearhouse/keys``, as ``NAME.key`` with
mode 0600. A passphrase is always prompted for (hidden, confirmed), never taken as an argument, so it
does not end up in shell history or the process list. Importing this module registers the ``keys``
group on the main application (one import line in ``cli/main.py``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import typer
from rich.console import Console

from clearhouse.auth.errors import KeyFileError
from clearhouse.auth.keys import KeyPair, is_sealed, read_public_key, save_key

keys_app = typer.Typer(help="ed25519 keys that sign transactions and orders.", no_args_is_help=True)
console = Console()

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def key_dir(option: Path | None) -> Path:
    """Where keys live: the option, ``$CLEARHOUSE_KEYS_DIR``, or ``~/.clearhouse/keys``."""
    if option is not None:
        return option
    env = os.environ.get("CLEARHOUSE_KEYS_DIR")
    return Path(env) if env else Path.home() / ".clearhouse" / "keys"


def key_path(name: str, directory: Path | None) -> Path:
    if not _NAME.fullmatch(name) or ".." in name:
        console.print(f"[red]key name {name!r}: use 1-64 letters, digits, '_', '-', '.'[/]")
        raise typer.Exit(2)
    return key_dir(directory) / f"{name}.key"


DIR_OPTION = typer.Option(
    None, "--dir", help="Key directory (default $CLEARHOUSE_KEYS_DIR or ~/.clearhouse/keys)."
)


@keys_app.command("new")
def new(
    name: str = typer.Argument(..., help="Key name; the file is NAME.key in the key directory."),
    directory: Path | None = DIR_OPTION,
    passphrase: bool = typer.Option(
        False, "--passphrase", help="Seal the key with a passphrase (prompted; argon2id + XSalsa20-Poly1305)."
    ),
) -> None:
    """Create a new ed25519 key; refuses to overwrite an existing one."""
    path = key_path(name, directory)
    if path.exists():
        console.print(f"[red]{path} exists; refusing to overwrite a key[/]")
        raise typer.Exit(1)
    secret: str | None = None
    if passphrase:
        secret = typer.prompt("passphrase", hide_input=True, confirmation_prompt=True)
    key = KeyPair.generate()
    try:
        save_key(path, key, secret)
    except KeyFileError as err:
        console.print(f"[red]{err}[/]")
        raise typer.Exit(1) from None
    console.print(
        f"key [bold]{name}[/] written to {path} (mode 0600{', sealed' if secret else ''})", soft_wrap=True
    )
    console.print(f"public key: [bold green]{key.public_hex}[/]", soft_wrap=True)


@keys_app.command("show")
def show(
    name: str = typer.Argument(..., help="Key name."),
    directory: Path | None = DIR_OPTION,
) -> None:
    """Print a key's public key (no passphrase needed: the public key is stored in clear)."""
    path = key_path(name, directory)
    try:
        public = read_public_key(path)
        sealed = is_sealed(path)
    except KeyFileError as err:
        console.print(f"[red]{err}[/]")
        raise typer.Exit(1) from None
    console.print(
        f"key [bold]{name}[/] at {path} ({'sealed with a passphrase' if sealed else 'not sealed'})",
        soft_wrap=True,
    )
    console.print(f"public key: [bold green]{public}[/]", soft_wrap=True)


def load_signing_key(path: Path, passphrase_env: str | None = None) -> KeyPair:
    """A key file for a process that signs (node, reporter, keeper, controller): the passphrase of a
    sealed file from ``$CLEARHOUSE_KEY_PASSPHRASE`` (or the named variable), else a hidden prompt;
    a bad file is a one-line error."""
    from clearhouse.auth.keys import load_key
    from clearhouse.cli.errors import fail
    from clearhouse.core.errors import ClearhouseError

    try:
        phrase = None
        if is_sealed(path):
            phrase = os.environ.get(passphrase_env or "CLEARHOUSE_KEY_PASSPHRASE") or typer.prompt(
                f"passphrase of {path}", hide_input=True
            )
        return load_key(path, phrase)
    except ClearhouseError as err:
        fail(str(err))
