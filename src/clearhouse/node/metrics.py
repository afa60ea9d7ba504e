"""Prometheus metrics of a node (``GET /metrics``), on a registry of its own per node."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from clearhouse.ledger.engine import BlockResult
from clearhouse.node.liquidations import liquidation_queue
from clearhouse.node.service import NodeService
from clearhouse.node.steward_views import StewardMetrics
from clearhouse.node.vault_views import VaultMetrics
from clearhouse.oracle.states import OracleState


class NodeMetrics:
    def __init__(self, svc: NodeService) -> None:
        self.svc = svc
        r = self.registry = CollectorRegistry()
        self.block_seconds = Histogram(
            "clearhouse_block_build_seconds", "Time to build, apply and journal a block", registry=r,
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        )
        self.height = Gauge("clearhouse_height", "Height of the last journalled block", registry=r)
        self.mempool = Gauge("clearhouse_mempool_depth", "Transactions waiting in the mempool", registry=r)
        self.outcomes = Counter(
            "clearhouse_txs", "Transactions by outcome", ["outcome"], registry=r
        )
        self.below = Gauge("clearhouse_accounts_below_maintenance", "Buckets below maintenance", registry=r)
        self.liquidations = Counter("clearhouse_liquidations", "Close-outs and liquidations", registry=r)
        self.insurance = Gauge("clearhouse_insurance_fund", "Insurance fund (settlement asset, WAD / 1e18)",
                               registry=r)
        self.oracle = Gauge("clearhouse_oracle_state", "1 for the feed's current state", ["feed", "state"],
                            registry=r)
        self.stream_seq = Gauge("clearhouse_stream_next_seq", "Next stream sequence number", registry=r)
        self.role = Gauge("clearhouse_replication_role", "1 for this node's role: single, leader, follower, "
                          "halted (docs/replication.md)", ["role"], registry=r)
        self._seen: dict[str, int] = {}
        self._liq_seen = 0
        svc.block_listeners.append(self.on_block)
        self.steward = StewardMetrics(r)
        svc.block_listeners.append(self.steward.on_block)
        self.vaults = VaultMetrics(r)

    def on_block(self, result: BlockResult, seconds: float) -> None:
        self.block_seconds.observe(seconds)

    def render(self) -> bytes:
        svc = self.svc
        state = svc.engine.state
        self.height.set(state.height)
        self.mempool.set(len(svc.mempool))
        for outcome, n in svc.counters.outcomes.items():
            delta = n - self._seen.get(outcome, 0)
            if delta:
                self.outcomes.labels(outcome).inc(delta)
                self._seen[outcome] = n
        if svc.counters.liquidations > self._liq_seen:
            self.liquidations.inc(svc.counters.liquidations - self._liq_seen)
            self._liq_seen = svc.counters.liquidations
        self.below.set(len(liquidation_queue(state)))
        self.insurance.set(state.pools.insurance.get(state.params.settlement_asset, 0) / 1e18)
        for feed, oracle in state.oracles.items():
            for s in OracleState:
                self.oracle.labels(feed, s.value).set(1 if oracle.state is s else 0)
        self.stream_seq.set(svc.next_seq())
        for role in ("single", "leader", "follower", "halted"):
            self.role.labels(role).set(1 if svc.role == role else 0)
        self.steward.render(state)
        self.vaults.render(state)
        return generate_latest(self.registry)
