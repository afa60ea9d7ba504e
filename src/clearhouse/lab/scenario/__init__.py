"""TOML scenario files: a market, a population, a stress and the agents, validated before any run.

A scenario is parsed with :mod:`tomllib`, converted into frozen :mod:`msgspec` structs (human
numbers: ``0.1``, ``"0.005"``, ``2_000``) and then checked as a whole: every plug-in name is known,
every parameter is consistent, every CSV a model reads exists and has its columns. Every problem
raises :class:`ScenarioError` whose message names the file and the field path, e.g.
``scenario.toml: population.leverage.max must be > min (10.0), got 5.0``. Nothing runs until a
scenario validates; the validated :class:`Scenario` holds the engine objects built from it (asset and
market specs, oracle feed configs, ledger parameters), the price model and the network model.

The package: :mod:`.schema` (raw structs), :mod:`.model` (the validated scenario), :mod:`.units`
(durations, fixed point), :mod:`.build` (engine objects), :mod:`.validate` (one check per section)
and :mod:`.load` (built-ins and files). The full annotated format is in ``docs/scenarios.md``.
Built-in scenarios live in ``clearhouse/lab/builtin/*.toml`` and are read with
:mod:`importlib.resources`.
"""

from __future__ import annotations

from clearhouse.lab.scenario.load import builtin_names, load_scenario, read_table, set_path
from clearhouse.lab.scenario.model import (
    AMM_SOURCE,
    BACKSTOP,
    MARKET_MAKER,
    AmmPool,
    Scenario,
    ScenarioError,
    dist_max,
    per_keeper,
)
from clearhouse.lab.scenario.schema import (
    EMPTY_POPULATION,
    AddMarginSpec,
    AmmTable,
    ArbitrageurSpec,
    AssetTable,
    ContagionSpec,
    DisposalTable,
    DistSpec,
    FeedTable,
    GasLevel,
    KeeperSpec,
    LedgerSpec,
    ManipulationSpec,
    MarketTable,
    OptionsSpec,
    OutageSpec,
    PopulationSpec,
    ScenarioSpec,
    VaultKeeperSpec,
    VaultPopulationSpec,
    VaultsSpec,
    VaultTypeTable,
    ZeroBidderSpec,
)
from clearhouse.lab.scenario.units import SECONDS_PER_YEAR, annual_to_duty, parse_duration
from clearhouse.lab.scenario.validate import validate

__all__ = [
    "AMM_SOURCE",
    "BACKSTOP",
    "EMPTY_POPULATION",
    "MARKET_MAKER",
    "SECONDS_PER_YEAR",
    "AddMarginSpec",
    "AmmPool",
    "AmmTable",
    "ArbitrageurSpec",
    "AssetTable",
    "ContagionSpec",
    "DisposalTable",
    "DistSpec",
    "FeedTable",
    "GasLevel",
    "KeeperSpec",
    "LedgerSpec",
    "ManipulationSpec",
    "MarketTable",
    "OptionsSpec",
    "OutageSpec",
    "PopulationSpec",
    "Scenario",
    "ScenarioError",
    "ScenarioSpec",
    "VaultKeeperSpec",
    "VaultPopulationSpec",
    "VaultTypeTable",
    "VaultsSpec",
    "ZeroBidderSpec",
    "annual_to_duty",
    "builtin_names",
    "dist_max",
    "load_scenario",
    "parse_duration",
    "per_keeper",
    "read_table",
    "set_path",
    "validate",
]
