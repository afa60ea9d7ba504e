"""Real processes on 127.0.0.1 for the node tests: a node, reporters, keepers; all stopped by the tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

import clearhouse
from clearhouse.auth.keys import KeyPair, save_key
from clearhouse.client import Client, W
from clearhouse.ledger import commands as c
from clearhouse.node.config import GenesisConfig, NodeConfig, ReporterEntry, dump_config

SRC = str(Path(clearhouse.__file__).resolve().parents[1])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli(*args: str, **kw: object) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.Popen(
        [sys.executable, "-c", "from clearhouse.cli.main import app; app()", *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw,  # type: ignore[call-overload]
    )


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.run([sys.executable, "-c", "from clearhouse.cli.main import app; app()", *args],
                          env=env, capture_output=True, timeout=timeout, check=False)


@dataclass
class Devnet:
    root: Path
    reporters: int = 3
    admins: int = 1
    block_time_ms: int = 200
    extra: dict[str, object] = field(default_factory=dict)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    node: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        keys = self.root / "keys"
        self.admin_keys = [KeyPair.generate() for _ in range(self.admins)]
        self.admin = self.admin_keys[0]
        save_key(keys / "admin.key", self.admin)
        self.reporter_keys = []
        for i in range(self.reporters):
            k = KeyPair.generate()
            save_key(keys / f"reporter{i}.key", k)
            self.reporter_keys.append(k)
        self.journal = f"sqlite:///{self.root}/journal.sqlite"
        cfg = NodeConfig(
            port=self.port, journal=self.journal, data_dir=str(self.root / "data"),
            block_time_ms=self.block_time_ms, admin_keys=tuple(k.public_hex for k in self.admin_keys),
            genesis=GenesisConfig(
                reporters=tuple(ReporterEntry("ETH", f"src{i}", k.public_hex)
                                for i, k in enumerate(self.reporter_keys)),
                admin_key_file=str(keys / "admin.key") if self.reporters else "",
            ),
            **self.extra,  # type: ignore[arg-type]
        )
        self.config = self.root / "node.toml"
        self.config.write_text(dump_config(cfg), encoding="utf-8")

    def start(self, timeout: float = 20) -> None:
        self.node = cli("node", "--config", str(self.config), "--log-level", "warning")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.node.poll() is not None:
                raise RuntimeError(f"node exited: {self.node.stderr.read().decode()}")  # type: ignore[union-attr]
            try:
                httpx.get(f"{self.url}/v1/status", timeout=1).raise_for_status()
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise TimeoutError("node did not come up")

    def kill9(self) -> None:
        assert self.node is not None
        self.node.send_signal(signal.SIGKILL)
        self.node.wait(10)

    def stop(self) -> str:
        out = ""
        if self.node is not None and self.node.poll() is None:
            self.node.send_signal(signal.SIGTERM)
            try:
                _, err = self.node.communicate(timeout=10)
                out = err.decode()
            except subprocess.TimeoutExpired:
                self.node.kill()
                self.node.wait(5)
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait(5)
        return out

    def spawn(self, *args: str) -> subprocess.Popen[bytes]:
        p = cli(*args)
        self.procs.append(p)
        return p

    def reporter(self, i: int, *args: str) -> subprocess.Popen[bytes]:
        key = str(self.root / "keys" / f"reporter{i}.key")
        return self.spawn("reporter", "--key", key, "--source", f"src{i}",
                          "--url", self.url, *args)

    def keeper(self, name: str, key: KeyPair, *args: str) -> subprocess.Popen[bytes]:
        path = self.root / "keys" / f"{name}.key"
        if not path.exists():
            save_key(path, key)
        return self.spawn("keeper", "--key", str(path), "--account", name, "--url", self.url,
                          "--state", str(self.root / f"{name}-intents.jsonl"), *args)

    def client(self, key: KeyPair | None = None) -> Client:
        return Client(self.url, key)

    def report_all(self, price: str) -> None:
        """One report per source now (the test's own reporters, without processes)."""
        with self.client() as cl:
            now = int(time.time())
            for i, k in enumerate(self.reporter_keys):
                cl.report(k, f"src{i}", "ETH", W(price), now)

    def open_and_fund(self, accounts: dict[str, tuple[KeyPair, str]]) -> None:
        """Open every account (signed by its owner) and deposit (signed by the admin); waits."""
        with self.client(self.admin) as cl:
            hs = [cl.submit(cl.sign(c.OpenAccount(n, k.public_hex), k)) for n, (k, _) in accounts.items()]
            for h in hs:
                assert cl.wait(h)["status"] == "included"
            hs = [cl.submit(cl.sign(c.Deposit(n, "USDC", W(amount)))) for n, (_, amount) in accounts.items()]
            for h in hs:
                assert cl.wait(h)["status"] == "included"


def trade(
    cl: Client, buyer: tuple[str, KeyPair], seller: tuple[str, KeyPair], size: str, price: str
) -> dict[str, object]:
    """A matched fill of two signed orders, submitted by ``cl``'s key."""
    buy = cl.order(buyer[1], buyer[0], "ETH-PERP", "buy", W(size), W(price))
    sell = cl.order(seller[1], seller[0], "ETH-PERP", "sell", W(size), W(price))
    return cl.send(cl.fill(buy, sell, W(size), W(price)))


def wait_until(pred: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")
