"""``clearhouse controller``: the risk controller as a separate process of the node (docs/controller.md)."""

from __future__ import annotations

from pathlib import Path

import typer

from clearhouse.cli.errors import fail


def controller(
    key: Path = typer.Option(..., "--key", help="The controller's key file (the steward's controller key)."),
    node_url: str = typer.Option("http://127.0.0.1:8700", "--node", "--url", help="The node's URL."),
    name: str = typer.Option("volatility", "--controller", help="volatility, congestion, open_interest or "
                             "oracle: the lab's controller classes."),
    market: list[str] = typer.Option([], "--market", help="Markets to steer (default: every market)."),
    set_: list[str] = typer.Option([], "--set", help="Controller parameter override NAME=INT, e.g. "
                                   "min_samples=3 (repeatable)."),
    state: Path = typer.Option(Path("controller-intents.jsonl"), "--state", help="Intent log (idempotency)."),
    run_for: float | None = typer.Option(None, "--run-for", help="Stop after this many seconds."),
    exit_after_submit: bool = typer.Option(False, "--exit-after-submit", hidden=True),
) -> None:
    """Follow the node, run a controller and send its guarded ProposeParameter / ApplyParameter."""
    from clearhouse.cli.keys import load_signing_key
    from clearhouse.lab.controller_run import NAMES
    from clearhouse.node.controller_proc import ControllerSettings, LiveController
    from clearhouse.node.logs import setup

    if name not in NAMES:
        fail(f"unknown controller {name!r}; built-ins: {', '.join(NAMES)}")
    overrides: dict[str, int] = {}
    for item in set_:
        attr, eq, value = item.partition("=")
        try:
            if not eq:
                raise ValueError(item)
            overrides[attr.strip()] = int(value)
        except ValueError:
            fail(f"--set wants NAME=INT, got {item!r}")
    setup()
    settings = ControllerSettings(node_url, name, state, overrides, tuple(market), run_for, exit_after_submit)
    LiveController(settings, load_signing_key(key)).run()


__all__ = ["controller"]
