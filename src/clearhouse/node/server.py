"""Run a node: load the config, open (or resume) the journal, serve the API with uvicorn."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

import uvicorn

from clearhouse.ledger.errors import InvalidValue
from clearhouse.node.api import create_app
from clearhouse.node.config import NodeConfig
from clearhouse.node.logs import setup
from clearhouse.node.service import NodeService


def serve(cfg: NodeConfig, log_level: str = "info") -> None:
    setup(log_level)
    url = f"http://{cfg.host}:{cfg.port}"
    if cfg.replication.servers():
        _serve_replicated(cfg, url, log_level)
        return
    svc = NodeService(cfg)
    app = create_app(svc)
    state = svc.engine.state
    print(
        f"clearhouse node {cfg.chain_id}: listening on {url} (API {url}/v1, OpenAPI {url}/docs, metrics "
        f"{url}/metrics)\n  journal {cfg.journal} at height {state.height}"
        f"{' (resumed)' if svc.restarted else ''}; index {cfg.data_dir}/node.sqlite\n"
        f"  stop it with Ctrl-C or: kill {os.getpid()}",
        file=sys.stderr, flush=True,
    )
    _run(app, cfg, svc.close)


def _serve_replicated(cfg: NodeConfig, url: str, log_level: str) -> None:
    """A node of the replicated deployment: it follows the JetStream log and leads while it holds the
    lease (docs/replication.md)."""
    from clearhouse.replication.errors import Diverged
    from clearhouse.replication.replica import Replicator

    rep = Replicator(cfg, url)
    try:
        rep.connect()
        svc = NodeService(cfg, sink=rep.make_sink)
        try:
            rep.check_prefix(svc)
        except Diverged as err:
            svc.close()
            raise InvalidValue(str(err)) from None
    except BaseException:
        rep.close()
        raise
    app = create_app(svc, background=[rep.run], replica_status=rep.status)
    print(
        f"clearhouse node {cfg.chain_id} (replicated): listening on {url}; log "
        f"{cfg.replication.stream} on {cfg.replication.nats}\n  journal {cfg.journal} at height "
        f"{svc.engine.state.height}; follows the log, leads while it holds the lease "
        f"(takeover={'on' if cfg.replication.takeover else 'off'})\n"
        f"  stop it with Ctrl-C or: kill {os.getpid()}",
        file=sys.stderr, flush=True,
    )
    _run(app, cfg, rep.close, svc.close)


def _run(app: Any, cfg: NodeConfig, *closers: Callable[[], None]) -> None:
    """Serve ``app`` on the configured address until stopped, then run ``closers`` in order."""
    config = uvicorn.Config(app, host=cfg.host, port=cfg.port, log_level="warning", access_log=False,
                            lifespan="on", timeout_graceful_shutdown=2)
    try:
        uvicorn.Server(config).run()
    finally:
        for close in closers:
            close()
