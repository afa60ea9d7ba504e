"""Regenerate the golden block files (tests/golden/*.jsonl). Not a test: run it by hand, review the diff.

    PYTHONPATH=src python tests/golden/capture.py [name ...]

Each line of a golden file is one block: ``{"block": <canonical block JSON as a string>, "root": <state
root after it>, "events": <sha256 of the canonical events bytes>}``. Scenario files record short horizons
of the built-ins (the lab drives the engine; only its blocks are stored, so replaying them needs no numpy
and no floats). ``ledger_commands.jsonl`` records the hand-written block histories of the ledger unit tests
(tests/ledger, one history per engine), chosen greedily until every command type, every oracle state and
every liquidation path of interest is covered.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent / "src"))

import msgspec  # noqa: E402

from clearhouse.ledger.block import Block  # noqa: E402
from clearhouse.ledger.engine import BlockResult, Engine  # noqa: E402
from clearhouse.ledger.fixedpoint import RAY  # noqa: E402

#: Built-in scenario -> overrides that keep it short (a few hundred blocks at most, few accounts) but
#: still reach its mechanism (auctions, AMM disposal, contagion, median-3 oracle).
SCENARIOS: dict[str, dict[str, Any]] = {
    "black_thursday_clip": {
        "horizon": "30h", "block_time": 900, "population.accounts": 12, "vaults.population.count": 40,
    },
    "black_thursday_flip": {
        "horizon": "30h", "block_time": 900, "population.accounts": 12, "vaults.population.count": 40,
    },
    "cascade_2025_10_10": {"horizon": "4h", "block_time": 300, "population.accounts": 40},
    "contagion_amm": {
        "horizon": "8h", "block_time": 600, "population.accounts": 30, "vaults.population.count": 20,
    },
    "mango_median3": {"horizon": "3h", "block_time": 300, "population.accounts": 30},
}  # fmt: skip


def line(result: BlockResult) -> str:
    return json.dumps(
        {
            "block": result.block_bytes.decode(),
            "root": result.state_root,
            "events": hashlib.sha256(result.events_bytes).hexdigest(),
        },
        sort_keys=True,
    )


class Recorder:
    """Wraps ``Engine.apply_block`` and keeps every engine's successful blocks, in order."""

    def __init__(self) -> None:
        self.histories: dict[int, tuple[Engine, str, list[BlockResult], bool]] = {}
        self.test = ""

    def __enter__(self) -> Recorder:
        original = Engine.apply_block
        self._original = original
        recorder = self

        def apply_block(engine: Engine, block: Any) -> BlockResult:
            key = id(engine)
            if key not in recorder.histories:
                fresh = engine.state.height == 0 and not engine.state.accounts
                recorder.histories[key] = (engine, recorder.test, [], fresh)
            result = original(engine, block)
            recorder.histories[key][2].append(result)
            return result

        Engine.apply_block = apply_block  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        Engine.apply_block = self._original  # type: ignore[method-assign]

    def pytest_runtest_setup(self, item: Any) -> None:
        self.test = item.nodeid


def replays(results: list[BlockResult]) -> bool:
    """True if a fresh engine fed the recorded blocks gives the recorded roots and events (the test
    did not edit the state between blocks)."""
    from clearhouse.ledger.block import decode_block

    engine = Engine()
    try:
        for r in results:
            got = engine.apply_block(decode_block(r.block_bytes))
            if got.state_root != r.state_root or got.events_bytes != r.events_bytes:
                return False
    except Exception:
        return False
    return True


def features(results: list[BlockResult]) -> set[str]:
    """What a history exercises: command types, event types, oracle states, liquidation disposals,
    vault disposal kinds and margin models (the coverage the hand-written file must reach)."""
    from clearhouse.ledger.block import decode_block, decode_events

    out: set[str] = set()
    for r in results:
        block = decode_block(r.block_bytes)
        out.update(f"cmd:{type(t).__name__}" for t in block.txs)
        text = r.block_bytes.decode()
        for tag in ("open_interest", "tiered", "volatility", "dutch_auction", "english_auction",
                    "fixed_discount", "stability_pool", "aave", "amm", "backstop_vault"):  # fmt: skip
            if f'"{tag}"' in text:
                out.add(f"in:{tag}")
        for e in decode_events(r.events_bytes):
            name = type(e).__name__
            out.add(f"ev:{name}")
            if name == "OracleStateChanged":
                out.add(f"oracle:{e.new}")  # type: ignore[attr-defined]
            if name == "PositionLiquidated":
                out.add(f"disposal:{e.disposal}")  # type: ignore[attr-defined]
            if name == "TransactionRejected":
                out.add(f"rejected:{e.command}")  # type: ignore[attr-defined]
    return out


def ledger_histories(
    dirs: tuple[str, ...] = ("ledger", "liquidation"),
) -> Iterator[tuple[str, list[BlockResult]]]:
    import pytest

    recorder = Recorder()
    with recorder:
        pytest.main(
            ["-q", "-x", "-p", "no:cacheprovider", "--hypothesis-profile=default",
             "--deselect", "tests/ledger/test_properties.py",
             *(str(HERE.parent / d) for d in dirs)],
            plugins=[recorder],
        )  # fmt: skip
    for engine, test, results, fresh in recorder.histories.values():
        del engine
        if fresh and results:
            yield test, results


def handwritten() -> list[BlockResult]:
    """What no ledger unit test runs through blocks: ``UpdateVaultType``, ``SetDebtLimit``, trading under
    the open-interest, tiered and volatility margin models (the committed-OI read of R3), and feeds that
    go CLAMPED (bounds), GUARDED (anchor band) and UNCERTAIN (Pyth confidence)."""
    sys.path.insert(0, str(HERE.parent))
    from clearhouse.ledger import commands as c
    from clearhouse.ledger.margin_models import OpenInterestMargin, Tier, TieredMargin, VolatilityMargin
    from clearhouse.oracle import config as oc
    from clearhouse.oracle.reports import SourceReport
    from ledger.builders import ETH_PERP, W, apply_txs, genesis_engine
    from ledger.vault_fixtures import ETH_A, vault_spec

    results: list[BlockResult] = []
    with Recorder() as recorder:
        engine = genesis_engine()
        oim = msgspec.structs.replace(
            ETH_PERP, id="OI-PERP", margin_model=OpenInterestMargin(lower_cap=W(4000), upper_cap=W(40_000))
        )
        tiers = TieredMargin((Tier(W(5000), W("0.2"), W("0.1")), Tier(W(20_000), W("0.5"), W("0.25"))))
        tiered = msgspec.structs.replace(ETH_PERP, id="TIER-PERP", margin_model=tiers)
        vol_model = VolatilityMargin(max_initial=W("0.5"))
        vol = msgspec.structs.replace(ETH_PERP, id="VOL-PERP", margin_model=vol_model)
        src = ("a", "b", "c")
        feeds = [
            oc.FeedConfig("CLMP", src, oc.MedianConfig(), (oc.BoundsConfig(W(1), W(100)),)),
            oc.FeedConfig("GRD", src, oc.MedianConfig(), (oc.AnchorBandConfig(W("0.1"), 600),)),
            oc.FeedConfig("UNC", src, oc.PythConfig(), (oc.ConfidenceConfig(W("0.01")),)),
        ]
        apply_txs(engine, [
            c.ListMarket(oim), c.ListMarket(tiered), c.ListMarket(vol),
            *(c.ConfigureOracle(f) for f in feeds),
            c.ListVaultType(vault_spec()), c.SetDebtLimit(W(50_000)),
            c.UpdateVaultType(vault_spec(duty=RAY + RAY // 10**9)),
        ], prices={"ETH": W(2000)})

        def reports(time: int, clmp: int, grd: int, unc_conf: int) -> tuple[SourceReport, ...]:
            out = [SourceReport(s, "CLMP", clmp, time) for s in src]
            out += [SourceReport(s, "GRD", grd, time) for s in src]
            out += [SourceReport(s, "UNC", W(50), time, unc_conf) for s in src]
            return tuple(out)

        def block(txs: list[c.AnyCommand], clmp: int, grd: int, unc_conf: int) -> None:
            state = engine.state
            t = state.time + 60
            inputs = reports(t, clmp, grd, unc_conf)
            engine.apply_block(Block(state.height + 1, t, {"ETH": W(2000)}, tuple(txs), inputs))

        block([c.Trade("OI-PERP", "alice", "bob", W(1), W(2000))], W(50), W(10), W("0.1"))
        block([c.Trade("OI-PERP", "alice", "bob", W(3), W(2000)),  # OI 1 -> 4 ETH: past the lower cap
               c.Trade("OI-PERP", "carol", "keeper", W(9), W(2000)),  # rejected: imf has risen
               c.Trade("TIER-PERP", "alice", "bob", W(2), W(2000)),
               c.Trade("TIER-PERP", "alice", "bob", W(10), W(2000)),
               c.SetVolatility("VOL-PERP", W(2)),
               c.Trade("VOL-PERP", "bob", "alice", W(1), W(2000))], W(50), W(10), W("0.1"))
        block([c.Lock("dave", ETH_A, W(2)), c.Draw("dave", ETH_A, W(1000))], W(200), W(10), W(2))
        block([c.Trade("OI-PERP", "bob", "alice", W(2), W(2000)), c.Free("dave", ETH_A, W(1))],
              W(200), W(20), W(2))  # CLAMPED, GUARDED, UNCERTAIN
        block([c.Wipe("dave", ETH_A, W(500)), c.Trade("OI-PERP", "alice", "bob", W(1), W(2000))],
              W(50), W(10), W("0.1"))  # back to fresh
        for engine_, _test, recorded, _fresh in recorder.histories.values():
            if engine_ is engine:
                results = recorded
    return results


def write_ledger(name: str = "ledger_commands", dirs: tuple[str, ...] = ("ledger", "liquidation")) -> None:
    """Greedy set cover over the recorded histories of the tests in ``dirs``, smallest useful first."""
    candidates = [("capture.py::handwritten", handwritten(), set())] if name == "ledger_commands" else []
    if candidates:
        candidates[0] = (candidates[0][0], candidates[0][1], features(candidates[0][1]))
    for test, results in ledger_histories(dirs):
        try:
            candidates.append((test, results, features(results)))
        except Exception:  # a bad-input test's block that does not decode: not a replayable history
            continue
    chosen: list[tuple[str, list[BlockResult]]] = []
    covered: set[str] = set()
    while True:
        best = max(
            candidates,
            key=lambda c: (len(c[2] - covered) / (1 + len(c[1]) ** 0.5), -len(c[1]), c[0]),
            default=None,
        )
        if best is None or not (best[2] - covered) or not replays(best[1]):
            if best is not None and best[2] - covered:
                candidates.remove(best)
                continue
            break
        covered |= best[2]
        chosen.append((best[0], best[1]))
        candidates.remove(best)
    with (HERE / f"{name}.jsonl").open("w") as out:
        for test, results in chosen:
            out.write(json.dumps({"history": test}) + "\n")
            for r in results:
                out.write(line(r) + "\n")
    print(f"{name}: {len(chosen)} histories, {sum(len(r) for _, r in chosen)} blocks")
    print("covered:", " ".join(sorted(covered)))


def write_scenario(name: str) -> None:
    from clearhouse.lab.runner import run_path
    from clearhouse.lab.scenario import load_scenario

    # The hand-drawn waypoints, not ../shared/data: the capture must not depend on the data files.
    scenario = load_scenario(name, {**SCENARIOS[name], "data_dir": str(HERE / "no-data")})
    with Recorder() as recorder:
        run_path(scenario)
    histories = [h for h in recorder.histories.values() if h[3]]
    assert len(histories) >= 1
    results = histories[0][2]
    assert replays(results), name
    with (HERE / f"{name}.jsonl").open("w") as out:
        out.write(json.dumps({"history": f"{name} {SCENARIOS[name]}"}, sort_keys=True) + "\n")
        for r in results:
            out.write(line(r) + "\n")
    print(name, len(results), "blocks", " ".join(sorted(features(results))))


def write_signed_demo() -> None:
    """The signed demo session (ConfigureAuth, signed envelopes and reports, matched fills, refusals)."""
    from clearhouse.demo.signed_session import signed_session_blocks

    engine = Engine()
    results = [engine.apply_block(b) for b in signed_session_blocks()]
    assert replays(results)
    with (HERE / "signed_demo.jsonl").open("w") as out:
        out.write(json.dumps({"history": "clearhouse.demo.signed_session"}) + "\n")
        for r in results:
            out.write(line(r) + "\n")
    print("signed_demo", len(results), "blocks")


def write_options() -> None:
    """Dated futures and options (mechanisms.options): listing, the scenario table, trades (one refused),
    a crash table whose backstop enforcement takes over the riskiest leg, a refused LiquidateContracts,
    an expiry that waits on a stale feed and settles when a fresh window has passed."""
    sys.path.insert(0, str(HERE.parent / "mechanisms"))
    sys.path.insert(0, str(HERE.parent))
    from options_fixtures import GRID, E, options_engine, run_to, table

    from clearhouse.ledger import commands as c
    from ledger.builders import PARAMS, W

    params = msgspec.structs.replace(PARAMS, enforcement="backstop", backstop_liquidator="keeper")
    with Recorder() as recorder:
        engine = options_engine(params)
        t = engine.state.time + 60
        run_to(engine, t, [
            c.TradeContract("ETH-F", "alice", "bob", W(2), W(2000)),
            c.TradeContract("ETH-C1900", "alice", "bob", W(1), W(150)),
            c.TradeContract("ETH-P2000", "keeper", "carol", W(4), W(40)),
            c.TradeContract("ETH-C2200", "keeper", "carol", W(400), W(80)),  # refused: margin
        ], W(2000))  # fmt: skip
        t += 60
        run_to(engine, t, [c.SetScenarioTable("ETH", GRID, table(W(1500), t, vol=1.0))], W(1500))
        run_to(engine, t + 60, [c.LiquidateContracts("carol", "keeper")], W(1500))  # refused: healthy
        run_to(engine, E - 2400, [], W(2000))
        run_to(engine, E + 60)  # stale at expiry: every instrument waits
        for k in range(7):
            run_to(engine, E + 120 + 300 * k, [], W(2100))  # settles at E + 1920
        (results,) = [h[2] for h in recorder.histories.values() if h[0] is engine]
    assert replays(results)
    with (HERE / "options.jsonl").open("w") as out:
        out.write(json.dumps({"history": "capture.py::write_options"}) + "\n")
        for r in results:
            out.write(line(r) + "\n")
    print("options", len(results), "blocks", " ".join(sorted(features(results))))


def main(names: list[str]) -> None:
    jobs: dict[str, Callable[[], None]] = {n: (lambda n=n: write_scenario(n)) for n in SCENARIOS}
    jobs["ledger_commands"] = write_ledger
    jobs["signed_demo"] = write_signed_demo
    jobs["steward"] = lambda: write_ledger("steward", ("steward",))
    jobs["options"] = write_options
    for name in names or list(jobs):
        jobs[name]()


if __name__ == "__main__":
    main(sys.argv[1:])
