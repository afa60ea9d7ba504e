"""``clearhouse jetstream-cluster``: a 3-server JetStream cluster on 127.0.0.1 for trying the replicated
deployment on one machine (docs/replication.md). It runs in the foreground until Ctrl-C."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import typer

from clearhouse.cli.errors import fail


def jetstream_cluster(
    directory: Path = typer.Option(Path("jetstream"), "--dir", help="Store directories, configs and logs of "
                                   "the servers (created; an existing store is reused)."),
    port: int = typer.Option(4222, "--port", help="Client port of the first server; the others take the next "
                             "ones, cluster routes PORT+2000..."),
    size: int = typer.Option(3, "--size", min=1, max=5),
) -> None:
    """Start a JetStream cluster of nats-server processes on 127.0.0.1 and wait; Ctrl-C stops them."""
    from clearhouse.replication.cluster import JetStreamCluster

    try:
        cluster = JetStreamCluster(directory, size=size, base_port=port)
        cluster.start()
    except (FileNotFoundError, RuntimeError, TimeoutError) as err:
        fail(str(err))
    typer.echo(f"JetStream cluster of {size} servers: {cluster.url_list}\n"
               f"  configs and logs in {directory}/; a node joins with: clearhouse node --config node.toml "
               f"--follow {cluster.url_list}\n  kill one server with: kill -9 <pid> "
               f"({', '.join(str(p.pid) for p in cluster.procs if p is not None)}); Ctrl-C stops all")
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    try:
        while not stop:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()


def register(app: typer.Typer) -> None:
    app.command("jetstream-cluster")(jetstream_cluster)
