"""A throw-away 3-server JetStream cluster on 127.0.0.1 for tests, benchmarks and docs/replication.md.

Each server gets its own client port, cluster (route) port and store directory under ``root``; the
caller stops them (``stop``) or kills one (``kill``) to test fail-over. Needs Debian's ``nats-server``.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

#: A block's row is one message: a full block (5,000 signed trades of ~1.3 kB) needs more than the
#: server's default 1 MB. 8 MB is the largest NATS recommends.
MAX_PAYLOAD = 8 * 1024 * 1024


def nats_server_path() -> str | None:
    """The ``nats-server`` binary, or None when it is not installed."""
    return shutil.which("nats-server") or (
        "/usr/sbin/nats-server" if Path("/usr/sbin/nats-server").exists() else None
    )


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


@dataclass
class JetStreamCluster:
    """``size`` nats-server processes with JetStream, routed to each other, on loopback only."""

    root: Path
    size: int = 3
    name: str = "clearhouse"
    #: First client port (the others follow; route ports start at ``base_port + 2000``); 0 = free ports.
    base_port: int = 0
    procs: list[subprocess.Popen[bytes] | None] = field(default_factory=list)

    def __post_init__(self) -> None:
        binary = nats_server_path()
        if binary is None:
            raise FileNotFoundError("nats-server is not installed (Debian: apt-get install nats-server)")
        self.binary = binary
        if self.base_port:
            ports = [self.base_port + i for i in range(self.size)]
            ports += [self.base_port + 2000 + i for i in range(self.size)]
        else:
            ports = _free_ports(2 * self.size)
        self.client_ports = ports[: self.size]
        self.route_ports = ports[self.size:]
        self.root.mkdir(parents=True, exist_ok=True)

    @property
    def urls(self) -> list[str]:
        return [f"nats://127.0.0.1:{p}" for p in self.client_ports]

    @property
    def url_list(self) -> str:
        """All servers, comma-separated (what ``--follow`` and ``replication.nats`` take)."""
        return ",".join(self.urls)

    def config_text(self, i: int) -> str:
        routes = ", ".join(f"nats-route://127.0.0.1:{p}" for j, p in enumerate(self.route_ports) if j != i)
        store = self.root / f"n{i + 1}"
        return (
            f"server_name: n{i + 1}\nlisten: 127.0.0.1:{self.client_ports[i]}\n"
            f"max_payload: {MAX_PAYLOAD}\n"
            f'jetstream {{ store_dir: "{store}" }}\n'
            f"cluster {{ name: {self.name}\n  listen: 127.0.0.1:{self.route_ports[i]}\n"
            f"  routes: [{routes}] }}\n"
        )

    def start_server(self, i: int) -> None:
        conf = self.root / f"n{i + 1}.conf"
        conf.write_text(self.config_text(i), encoding="utf-8")
        log = (self.root / f"n{i + 1}.log").open("ab")
        proc = subprocess.Popen([self.binary, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
        log.close()
        while len(self.procs) <= i:
            self.procs.append(None)
        self.procs[i] = proc

    def start(self, timeout: float = 15) -> JetStreamCluster:
        for i in range(self.size):
            self.start_server(i)
        deadline = time.monotonic() + timeout
        for i, port in enumerate(self.client_ports):
            while True:
                proc = self.procs[i]
                if proc is not None and proc.poll() is not None:
                    raise RuntimeError(f"nats-server n{i + 1} exited; see {self.root}/n{i + 1}.log")
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"nats-server n{i + 1} did not listen on {port}") from None
                    time.sleep(0.05)
        return self

    def kill(self, i: int) -> None:
        """SIGKILL server ``i`` (0-based): the stream must keep working on the other two."""
        proc = self.procs[i]
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)

    def stop(self) -> None:
        for proc in self.procs:
            if proc is not None and proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            if proc is not None and proc.poll() is None:
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)

    def __enter__(self) -> JetStreamCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = ["JetStreamCluster", "nats_server_path"]
