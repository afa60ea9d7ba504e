"""What one path observed, handed from the runner to the metrics (``runner`` fills it, ``metrics`` reads it).

Its own module so :mod:`clearhouse.lab.metrics` and :mod:`clearhouse.lab.runner` do not import each
other: both depend on this one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]

from clearhouse.lab.agents import Agents
from clearhouse.lab.arbitrage import Arbitrageurs
from clearhouse.lab.breaches import BreachTracker
from clearhouse.lab.losses import LossTally
from clearhouse.lab.option_agents import OptionAgents
from clearhouse.lab.population import Population
from clearhouse.lab.scenario import Scenario
from clearhouse.lab.vault_agents import VaultAgents
from clearhouse.ledger.engine import Engine


@dataclass
class PathFacts:
    """What :func:`clearhouse.lab.metrics.path_summary` reads."""

    scenario: Scenario
    seed: int
    population: Population
    engine: Engine
    timeseries: pa.Table
    #: Breach episodes, close-out classes and insolvency episodes (finished at the horizon).
    breaches: BreachTracker
    #: The loss waterfall's events, tallied exactly.
    losses: LossTally
    liquidated_accounts: int
    agents: Agents
    opening_rejected: int
    insurance_start: int
    unrealised: int
    conservation: dict[str, bool]
    state_root: str
    path_f: np.ndarray
    vaults: VaultAgents | None = None
    #: (shortfall WAD, debt under auction WAD, unsafe vaults) at the end
    vault_unrealised: tuple[int, int, int] = (0, 0, 0)
    arbitrageurs: Arbitrageurs | None = None
    #: Per pooled market: notional of liquidations sold into the pool, their shortfall (WAD).
    amm_volume: dict[str, int] = field(default_factory=dict)
    amm_shortfall: dict[str, int] = field(default_factory=dict)
    #: Per pooled market: Σ |oracle notional − fill quote| of liquidations filled worse than the oracle.
    amm_slippage: dict[str, int] = field(default_factory=dict)
    #: Per market: (liquidations of population accounts, their notional WAD).
    liquidations_by_market: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: Perp markets whose oracle reads a pool.
    linked_markets: tuple[str, ...] = ()
    amm_sources: str = "pool"
    #: The ``[options]`` publisher and keepers (their tallies), if the scenario has options.
    options: OptionAgents | None = None
