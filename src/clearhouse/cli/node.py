"""``clearhouse node``, ``clearhouse reporter`` and ``clearhouse keeper``: the live node and its
separate processes (docs/node.md)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from clearhouse.cli.errors import fail
from clearhouse.cli.keys import load_signing_key
from clearhouse.ledger.errors import ClearhouseError

if TYPE_CHECKING:
    from clearhouse.node.steward_genesis import StewardGenesis


def node(
    config: Path = typer.Option(Path("node.toml"), "--config", help="The node's TOML configuration."),
    init: bool = typer.Option(False, "--init", help="Write a devnet config and its keys (admin, three "
                              "reporters) next to it, then exit; never overwrites a file. The config lists "
                              "an ETH-A vault type with a Dutch auction ([genesis.vaults])."),
    keys_dir: Path = typer.Option(Path("keys"), "--keys-dir", help="With --init: where the keys go."),
    port: int = typer.Option(8700, "--port", help="With --init: the port to listen on."),
    log_level: str = typer.Option("info", "--log-level"),
    follow: str | None = typer.Option(None, "--follow", help="Replicated mode: the JetStream cluster's "
                                      "nats:// URLs, comma-separated (overrides replication.nats); the "
                                      "node follows the log and leads while it holds the lease "
                                      "(docs/replication.md)."),
    no_takeover: bool = typer.Option(False, "--no-takeover", help="With --follow: a read replica that "
                                     "never takes the lease."),
) -> None:
    """Run a clearhouse node: signed transactions over HTTP, a block every block_time_ms, the journal."""
    from clearhouse.node.config import GenesisConfig, NodeConfig, ReporterEntry, dump_config, load_config
    from clearhouse.node.vault_genesis import VaultGenesis

    if init:
        from clearhouse.auth.keys import KeyPair, save_key

        if config.exists():
            fail(f"{config} exists; refusing to overwrite it")
        try:
            admin = KeyPair.generate()
            save_key(keys_dir / "admin.key", admin)
            reporters = []
            for i in range(1, 4):
                k = KeyPair.generate()
                save_key(keys_dir / f"reporter{i}.key", k)
                reporters.append(ReporterEntry("ETH", f"src{i}", k.public_hex))
            steward = _steward_keys(keys_dir)
        except ClearhouseError as err:
            fail(str(err))
        cfg = NodeConfig(port=port, admin_keys=(admin.public_hex,), genesis=GenesisConfig(
            reporters=tuple(reporters), admin_key_file=str(keys_dir / "admin.key"), steward=steward,
            vaults=VaultGenesis()))
        config.write_text(dump_config(cfg), encoding="utf-8")
        typer.echo(f"wrote {config} and keys admin, reporter1..3, controller, guardian in {keys_dir}/; "
                   "start with: "
                   f"clearhouse node --config {config}")
        return
    try:
        cfg = load_config(config)
        if follow is not None or no_takeover:
            import msgspec

            rep = cfg.replication
            rep = msgspec.structs.replace(rep, nats=follow if follow is not None else rep.nats,
                                          takeover=rep.takeover and not no_takeover)
            cfg = msgspec.structs.replace(cfg, replication=rep)
            cfg.validate()
            if not rep.servers():
                fail("--no-takeover needs --follow URLS or replication.nats")
    except ClearhouseError as err:
        fail(str(err))
    from clearhouse.node.server import serve

    try:
        serve(cfg, log_level)
    except ClearhouseError as err:
        fail(f"node cannot start: {err}")


def _steward_keys(keys_dir: Path) -> StewardGenesis:
    """Controller and guardian keys for ``--init`` and the devnet market's steward (docs/controller.md)."""
    from clearhouse.auth.keys import KeyPair, save_key
    from clearhouse.node.steward_genesis import StewardGenesis

    ctrl, guardian = KeyPair.generate(), KeyPair.generate()
    save_key(keys_dir / "controller.key", ctrl)
    save_key(keys_dir / "guardian.key", guardian)
    return StewardGenesis(ctrl.public_hex, guardian.public_hex)


def reporter(
    key: Path = typer.Option(..., "--key", help="The reporter's key file (whitelisted for --source)."),
    source: str = typer.Option(..., "--source"),
    url: str = typer.Option("http://127.0.0.1:8700", "--url"),
    asset: str = typer.Option("ETH", "--asset"),
    price: str | None = typer.Option(None, "--price", help="A constant price."),
    path: str | None = typer.Option(None, "--path", help="Prices in turn, the last held: 2000,1900,1500"),
    csv_file: Path | None = typer.Option(None, "--csv", help="A CSV with a header (e.g. /work/shared/data)."),
    column: str = typer.Option("close", "--column"),
    scale: str = typer.Option("1", "--scale", help="Multiply CSV prices by this."),
    start: int = typer.Option(0, "--start", help="First CSV row."),
    interval: float = typer.Option(1.0, "--interval", help="Seconds between reports (at least 1 s apart)."),
    count: int | None = typer.Option(None, "--count", help="Stop after this many accepted reports."),
) -> None:
    """Sign and post oracle reports for one source of a feed."""
    from clearhouse.node import reporter as rep
    from clearhouse.node.logs import setup

    setup()
    try:
        if csv_file is not None:
            prices = rep.csv_prices(csv_file, column, Decimal(scale), start)
        elif path is not None:
            prices = rep.path_prices([Decimal(p) for p in path.split(",") if p.strip()])
        elif price is not None:
            prices = rep.path_prices([Decimal(price)])
        else:
            fail("give --price, --path or --csv")
    except (InvalidOperation, OSError) as err:
        fail(f"bad prices: {err}")
    n = rep.run(url, load_signing_key(key), source, asset, prices, interval=interval, count=count)
    typer.echo(f"{n} reports accepted")


def keeper(
    key: Path = typer.Option(..., "--key", help="The keeper's key file (owner of --account)."),
    account: str = typer.Option(..., "--account", help="The keeper's account (paid the liquidator share)."),
    url: str = typer.Option("http://127.0.0.1:8700", "--url"),
    state: Path = typer.Option(Path("keeper-intents.jsonl"), "--state", help="Intent log (idempotency)."),
    threshold: float = typer.Option(0.0, "--threshold", help="Minimum expected profit after --cost."),
    cost: float = typer.Option(0.0, "--cost", help="Cost per close-out, settlement units."),
    run_for: float | None = typer.Option(None, "--run-for", help="Stop after this many seconds."),
    mode: str = typer.Option("closeout", "--mode", help="closeout (take the bucket over) or liquidate "
                             "(one position by the market's mechanism)."),
    metrics_port: int | None = typer.Option(None, "--metrics-port", help="Serve Prometheus metrics on "
                                            "127.0.0.1:PORT (keeper lag, replica height, close-outs)."),
    vaults: bool = typer.Option(True, "--vaults/--no-vaults", help="Also bark unsafe vaults and take "
                                "from Dutch auctions when profitable after --cost."),
    discount: float = typer.Option(0.0, "--discount", help="Take auctioned collateral only at this "
                                   "discount to the oracle price (0.05 = 5 %)."),
    exit_after_submit: bool = typer.Option(False, "--exit-after-submit", hidden=True),
) -> None:
    """Follow the stream, screen and confirm, and close out accounts below maintenance for profit."""
    from clearhouse.node.keeper import Keeper, KeeperSettings
    from clearhouse.node.logs import setup

    setup()
    if mode not in ("closeout", "liquidate"):
        fail("--mode is closeout or liquidate")
    if not 0.0 <= discount < 1.0:
        fail("--discount is in [0, 1)")
    settings = KeeperSettings(url, account, state, threshold, cost, exit_after_submit, run_for, mode,
                              metrics_port, vaults, discount)
    Keeper(settings, load_signing_key(key)).run()


def register(app: typer.Typer) -> None:
    """Add ``node``, ``reporter`` and ``keeper`` to the ``clearhouse`` app."""
    app.command()(node)
    app.command()(reporter)
    app.command()(keeper)
    from clearhouse.cli.controller_cmd import controller

    app.command()(controller)
