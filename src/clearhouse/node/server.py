"""Run a node: load the config, open (or resume) the journal, serve the API with uvicorn."""

from __future__ import annotations

import os
import sys

import uvicorn

from clearhouse.node.api import create_app
from clearhouse.node.config import NodeConfig
from clearhouse.node.logs import setup
from clearhouse.node.service import NodeService


def serve(cfg: NodeConfig, log_level: str = "info") -> None:
    setup(log_level)
    svc = NodeService(cfg)
    app = create_app(svc)
    url = f"http://{cfg.host}:{cfg.port}"
    state = svc.engine.state
    print(
        f"clearhouse node {cfg.chain_id}: listening on {url} (API {url}/v1, OpenAPI {url}/docs, metrics "
        f"{url}/metrics)\n  journal {cfg.journal} at height {state.height}"
        f"{' (resumed)' if svc.restarted else ''}; index {cfg.data_dir}/node.sqlite\n"
        f"  stop it with Ctrl-C or: kill {os.getpid()}",
        file=sys.stderr, flush=True,
    )
    config = uvicorn.Config(app, host=cfg.host, port=cfg.port, log_level="warning", access_log=False,
                            lifespan="on", timeout_graceful_shutdown=2)
    try:
        uvicorn.Server(config).run()
    finally:
        svc.close()
