"""The node's configuration (``node.toml``): where it listens, its journal, block time, limits, keys.

Read with :func:`load_config`; every field has a default so a minimal file names only ``admin_keys``
and the reporters. Unknown keys are refused (a typo must not silently fall back to a default).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import msgspec

from clearhouse.auth.nonces import ReplayRules
from clearhouse.auth.signing import check_chain_id, check_public_key
from clearhouse.ledger.errors import InvalidValue
from clearhouse.node.steward_genesis import StewardGenesis, toml_section
from clearhouse.node.toml_text import toml_value
from clearhouse.node.vault_genesis import VaultGenesis
from clearhouse.node.vault_genesis import toml_section as vaults_section


class ReporterEntry(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One oracle source of a feed and the one key allowed to sign its reports."""

    feed: str
    source: str
    key: str


class GenesisConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The devnet genesis: USDC settlement, an ETH perpetual on a median of the reporters' sources."""

    #: Chain time of block 1 in seconds; 0 = the wall clock at the first start.
    start_time: int = 0
    insurance: str = "100000"
    #: Seconds a source report stays fresh for the median.
    report_max_age: int = 120
    #: Seconds a price stays usable for margin checks.
    max_price_age: int = 120
    reporters: tuple[ReporterEntry, ...] = ()
    #: Key file of an admin key: at the first start the node signs block 2 with it, whitelisting the
    #: reporters above (``AuthorizeReporter``). Needed only when ``reporters`` is not empty.
    admin_key_file: str = ""
    #: Price of ETH written into every block when no reporter is configured (benchmarks, tests).
    fixed_price: str = "2000"
    #: The steward at genesis (controller and guardian keys, guardrails of the market): docs/controller.md.
    steward: StewardGenesis | None = None
    #: A vault type with a Dutch auction (ETH collateral, USDC debt): docs/node.md "Vaults".
    vaults: VaultGenesis | None = None


class ReplicationConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Replicated mode (docs/replication.md): empty ``nats`` = the embedded single node."""

    #: NATS server URLs of the JetStream cluster, comma-separated (nats://127.0.0.1:4222,...).
    nats: str = ""
    stream: str = "clearhouse-blocks"
    lease_bucket: str = "clearhouse-lease"
    #: The lease expires this long after its holder's last refresh; a caught-up follower then takes it.
    lease_ttl_ms: int = 2000
    #: Replication factor of the stream and the lease bucket (3 = survives the loss of one server).
    replicas: int = 3
    #: False: never take the lease (a read replica only).
    takeover: bool = True

    def servers(self) -> list[str]:
        return [u.strip() for u in self.nats.split(",") if u.strip()]


class NodeConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    chain_id: str = "clearhouse-devnet"
    host: str = "127.0.0.1"
    port: int = 8700
    #: A journal location for :func:`clearhouse.journal.open_store` (SQLite path/URL or PostgreSQL DSN).
    journal: str = "sqlite:///node-data/journal.sqlite"
    #: Directory of the node's own index (transaction statuses, nonces, sub-keys): ``node.sqlite``.
    data_dir: str = "node-data"
    block_time_ms: int = 500
    #: Chain time is whole seconds and strictly increasing; blocks faster than 1 s push it ahead of
    #: the wall clock, by at most this much before the producer waits for the clock.
    max_time_lead_s: int = 30
    mempool_size: int = 20_000
    max_block_txs: int = 5_000
    max_body_bytes: int = 65_536
    #: Token buckets: sustained requests per second (burst = 2 s worth) per client IP and per signer key.
    rate_per_ip: float = 5_000.0
    rate_per_key: float = 2_000.0
    admin_keys: tuple[str, ...] = ()
    replay: ReplayRules = ReplayRules()
    genesis: GenesisConfig = GenesisConfig()
    replication: ReplicationConfig = ReplicationConfig()

    def validate(self) -> None:
        check_chain_id(self.chain_id)
        if self.host not in ("127.0.0.1", "localhost", "::1"):
            raise InvalidValue(f"host {self.host!r}: the devnet node listens on loopback only")
        for key in self.admin_keys:
            check_public_key(key)
        for r in self.genesis.reporters:
            check_public_key(r.key)
        if not self.admin_keys:
            raise InvalidValue("admin_keys must name at least one admin public key")
        if self.genesis.reporters and not self.genesis.admin_key_file:
            raise InvalidValue("genesis.reporters needs genesis.admin_key_file to whitelist them")
        for name in ("block_time_ms", "mempool_size", "max_block_txs", "max_body_bytes"):
            if getattr(self, name) <= 0:
                raise InvalidValue(f"{name} must be > 0")
        self.replay.validate()
        rep = self.replication
        for url in rep.servers():
            if not url.startswith(("nats://", "tls://")):
                raise InvalidValue(f"replication.nats: {url!r} is not a nats:// URL")
        if rep.lease_ttl_ms < 500 or rep.replicas < 1:
            raise InvalidValue("replication.lease_ttl_ms must be >= 500 and replicas >= 1")
        if self.genesis.steward is not None:
            self.genesis.steward.validate()
        if self.genesis.vaults is not None:
            self.genesis.vaults.validate("USDC", "ETH")


def load_config(path: str | Path) -> NodeConfig:
    """Parse and validate a ``node.toml``; :class:`InvalidValue` names what is wrong."""
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        cfg = msgspec.convert(raw, NodeConfig)
    except (OSError, tomllib.TOMLDecodeError, msgspec.ValidationError) as err:
        raise InvalidValue(f"node config {path}: {err}") from None
    cfg.validate()
    return cfg


def dump_config(cfg: NodeConfig) -> str:
    """TOML text of ``cfg`` (for ``clearhouse node --init`` and tests)."""
    lines = []
    genesis = cfg.genesis
    for field in cfg.__struct_fields__:
        if field in ("genesis", "replay", "replication"):
            continue
        lines.append(f"{field} = {toml_value(getattr(cfg, field))}")
    lines.append("\n[replay]")
    for field in cfg.replay.__struct_fields__:
        lines.append(f"{field} = {toml_value(getattr(cfg.replay, field))}")
    lines.append("\n[replication]")
    for field in cfg.replication.__struct_fields__:
        lines.append(f"{field} = {toml_value(getattr(cfg.replication, field))}")
    lines.append("\n[genesis]")
    for field in genesis.__struct_fields__:
        if field not in ("reporters", "steward", "vaults"):
            lines.append(f"{field} = {toml_value(getattr(genesis, field))}")
    if genesis.steward is not None:
        lines.append(toml_section(genesis.steward))
    if genesis.vaults is not None:
        lines.append(vaults_section(genesis.vaults))
    for r in genesis.reporters:
        lines.append(f'\n[[genesis.reporters]]\nfeed = "{r.feed}"\nsource = "{r.source}"\nkey = "{r.key}"')
    return "\n".join(lines) + "\n"
