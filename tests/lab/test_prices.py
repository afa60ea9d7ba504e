"""Synthetic price models: worked examples, statistics with theory-derived tolerances, determinism,
correlation and refusals."""

from __future__ import annotations

import math
import tomllib

import numpy as np
import pytest

from clearhouse.lab import (
    GarchConfig,
    GarchModel,
    GbmConfig,
    GbmModel,
    LabConfigError,
    MertonConfig,
    MertonModel,
    Waypoint,
    WaypointConfig,
    WaypointModel,
    build_price_model,
    price_model_from_table,
    to_wad,
)
from clearhouse.lab.prices import BLACK_THURSDAY, YEAR_SECONDS
from clearhouse.ledger.errors import InvalidParameters, InvalidValue
from clearhouse.ledger.fixedpoint import WAD, to_fixed

HOUR = 3600
DAY = 24 * HOUR


def irregular_grid(n: int, seed: int = 3) -> np.ndarray:
    steps = np.random.Generator(np.random.PCG64(seed)).integers(1, 4 * HOUR, n - 1)
    return np.concatenate([[0], np.cumsum(steps)]).astype(np.int64)


# ----------------------------------------------------------------------------- GBM


def test_gbm_zero_vol_is_exp_drift_t() -> None:
    model = GbmModel(GbmConfig(assets=("ETH",), s0=2000.0, drift=0.3, vol=0.0))
    t = irregular_grid(500)
    p = model.path(t, seed=1)
    assert p[0, 0] == 2000.0
    np.testing.assert_allclose(p[:, 0], 2000.0 * np.exp(0.3 * t / YEAR_SECONDS), rtol=1e-12)


def test_gbm_standardised_log_returns_are_standard_normal_on_irregular_grid() -> None:
    mu, sigma, n = 0.2, 0.9, 200_000
    model = GbmModel(GbmConfig(assets=("A",), s0=1.0, drift=mu, vol=sigma))
    t = irregular_grid(n + 1)
    dt = np.diff(t) / YEAR_SECONDS
    r = np.diff(np.log(model.path(t, seed=11)[:, 0]))
    z = (r - (mu - sigma**2 / 2) * dt) / (sigma * np.sqrt(dt))
    # mean: SE 1/sqrt(n); variance: SE sqrt(2/n); 4 standard errors
    assert abs(z.mean()) < 4 / math.sqrt(n)
    assert abs(z.var() - 1.0) < 4 * math.sqrt(2 / n)


def test_gbm_log_return_mean_and_variance_on_regular_grid() -> None:
    mu, sigma, h, n = -0.5, 0.6, 600, 100_000
    model = GbmModel(GbmConfig(assets=("A", "B"), s0=(10.0, 20.0), drift=mu, vol=sigma))
    r = np.diff(np.log(model.path(np.arange(n + 1) * h, seed=5)), axis=0).ravel()
    dt = h / YEAR_SECONDS
    m, v, count = (mu - sigma**2 / 2) * dt, sigma**2 * dt, r.size
    assert abs(r.mean() - m) < 4 * math.sqrt(v / count)
    assert abs(r.var() - v) < 4 * v * math.sqrt(2 / count)


def test_correlated_shocks_match_target() -> None:
    corr = ((1.0, 0.7, -0.3), (0.7, 1.0, 0.0), (-0.3, 0.0, 1.0))
    model = GbmModel(GbmConfig(assets=("A", "B", "C"), s0=1.0, vol=0.5, correlation=corr))
    n = 100_000
    z = model.shocks(np.arange(n + 1) * 60, seed=9)
    sample = np.corrcoef(z.T)
    for i in range(3):
        for j in range(3):
            rho = corr[i][j]
            assert abs(sample[i, j] - rho) < 4 * (1 - rho * rho) / math.sqrt(n) + 1e-12
    # the prices carry the same correlation (equal vols, so log returns are scaled shocks)
    r = np.diff(np.log(model.path(np.arange(n + 1) * 60, seed=9)), axis=0)
    assert abs(np.corrcoef(r.T)[0, 1] - 0.7) < 4 * (1 - 0.49) / math.sqrt(n)


def test_perfect_correlation_is_accepted_and_moves_assets_together() -> None:
    model = GbmModel(
        GbmConfig(assets=("A", "B"), s0=(1.0, 2.0), vol=0.4, correlation=((1.0, 1.0), (1.0, 1.0)))
    )
    p = model.path(np.arange(100) * HOUR, seed=2)
    assert np.allclose(p[:, 1], 2 * p[:, 0], rtol=1e-14)


# ----------------------------------------------------------------------------- determinism


def models() -> list[tuple[str, object]]:
    corr = ((1.0, 0.5), (0.5, 1.0))
    return [
        ("gbm", GbmModel(GbmConfig(assets=("A", "B"), s0=1.0, vol=0.8, correlation=corr))),
        (
            "merton",
            MertonModel(MertonConfig(assets=("A", "B"), s0=1.0, vol=0.8, jump_intensity=500, jump_std=0.1)),
        ),
        (
            "garch",
            GarchModel(
                GarchConfig(assets=("A", "B"), s0=1.0, omega=1e-5, alpha=0.1, beta=0.8, correlation=corr)
            ),
        ),
        (
            "waypoints",
            WaypointModel(WaypointConfig(assets=("A", "B"), s0=1.0, points=BLACK_THURSDAY, vol=0.9)),
        ),
    ]


@pytest.mark.parametrize(("name", "model"), models())
def test_same_seed_same_path_different_seed_different_path(name: str, model: GbmModel) -> None:
    t = np.arange(0, 3 * DAY, 600)
    a, b, c = model.path(t, 123), model.path(t, 123), model.path(t, 124)
    assert a.shape == (t.size, 2) and a.dtype == np.float64
    assert np.array_equal(a, b), name
    assert not np.array_equal(a, c), name


def test_golden_gbm_path_is_bit_identical() -> None:
    """Pins the PCG64 stream and our arithmetic: a failure means paths changed across machines/versions."""
    model = GbmModel(
        GbmConfig(
            assets=("ETH", "BTC"),
            s0=(2000.0, 30000.0),
            drift=0.05,
            vol=(0.8, 0.6),
            correlation=((1, 0.7), (0.7, 1)),
        )
    )
    p = model.path(np.array([0, 60, 600, 3600]), 42)
    assert [v.hex() for v in p[1:].ravel()] == [
        "0x1.f42afb2c59941p+10",
        "0x1.d48b67faf8c9ap+14",
        "0x1.f568e1bc25102p+10",
        "0x1.d5f025f2b2e9ap+14",
        "0x1.edd2574ed4251p+10",
        "0x1.cfa94700aa9fbp+14",
    ]
    assert to_wad(p)[3] == [1975286578852818100000, 29674319338479992000000]


# ----------------------------------------------------------------------------- Merton


def test_merton_jump_counts_are_poisson() -> None:
    lam, h, n = 300.0, HOUR, 87_600  # ten years of hours, lam·dt ≈ 0.034
    model = MertonModel(
        MertonConfig(assets=("A", "B"), s0=1.0, vol=0.5, jump_intensity=lam, jump_mean=-0.05, jump_std=0.02)
    )
    counts = model.simulate(np.arange(n + 1) * h, seed=21).jump_counts.ravel()
    m, size = lam * h / YEAR_SECONDS, counts.size
    assert abs(counts.mean() - m) < 4 * math.sqrt(m / size)  # Poisson: var = mean
    assert abs(counts.var() / counts.mean() - 1.0) < 0.05  # dispersion index
    p0 = math.exp(-m)
    assert abs((counts == 0).mean() - p0) < 4 * math.sqrt(p0 * (1 - p0) / size)


def test_merton_without_diffusion_moves_only_on_jumps() -> None:
    model = MertonModel(
        MertonConfig(assets=("A",), s0=100.0, jump_intensity=2000.0, jump_mean=-0.1, jump_std=0.0)
    )
    t = np.arange(0, 30 * DAY, HOUR)
    sim = model.simulate(t, seed=4)
    r = np.diff(np.log(sim.prices[:, 0]))
    dt = HOUR / YEAR_SECONDS
    kappa = math.exp(-0.1) - 1
    expected = -2000.0 * kappa * dt + sim.jump_counts[:, 0] * -0.1
    np.testing.assert_allclose(r, expected, atol=1e-12)
    assert sim.jump_counts.sum() > 0


def test_merton_is_compensated_mean_price_grows_at_drift() -> None:
    mu, k = 0.1, 40_000  # one-year step, many independent assets
    model = MertonModel(
        MertonConfig(
            assets=tuple(f"a{i}" for i in range(k)),
            s0=1.0,
            drift=mu,
            vol=0.3,
            jump_intensity=5,
            jump_mean=-0.2,
            jump_std=0.1,
        )
    )
    final = model.path(np.array([0, YEAR_SECONDS]), seed=8)[1]
    se = final.std() / math.sqrt(k)
    assert abs(final.mean() - math.exp(mu)) < 4 * se


# ----------------------------------------------------------------------------- GARCH


def test_garch_unconditional_variance() -> None:
    omega, alpha, beta, k, n = 2e-6, 0.1, 0.85, 8, 50_000
    model = GarchModel(GarchConfig(assets=tuple("ABCDEFGH"), s0=1.0, omega=omega, alpha=alpha, beta=beta))
    sim = model.simulate(np.arange(n + 1) * 600, seed=31)
    var = omega / (1 - alpha - beta)
    # Gaussian GARCH(1,1): kurtosis and autocorrelation of r² (Bollerslev 1986) inflate the SE
    s = alpha + beta
    kurt = 3 * (1 - s * s) / (1 - s * s - 2 * alpha * alpha)
    rho1 = alpha * (1 - alpha * beta - beta * beta) / (1 - 2 * alpha * beta - beta * beta)
    se = var * math.sqrt((kurt - 1) * (1 + 2 * rho1 / (1 - s)) / (k * n))
    assert abs(np.mean(sim.returns**2) - var) < 5 * se
    # recursion holds step by step
    r, h = sim.returns, sim.variances
    np.testing.assert_allclose(h[1:], omega + alpha * r[:-1] ** 2 + beta * h[:-1], rtol=1e-12)
    assert h[0, 0] == pytest.approx(var)


def test_garch_step_seconds_refuses_irregular_grid() -> None:
    model = GarchModel(GarchConfig(assets=("A",), s0=1.0, omega=1e-6, alpha=0.1, beta=0.8, step_seconds=60))
    model.path(np.arange(10) * 60, 0)
    with pytest.raises(LabConfigError, match=r"times\[3\]"):
        model.path(np.array([0, 60, 120, 200]), 0)


# ----------------------------------------------------------------------------- waypoints


def test_waypoints_hit_every_waypoint_exactly() -> None:
    cfg = WaypointConfig(
        assets=("ETH", "THIN"), s0=(194.61, 3.0), points=BLACK_THURSDAY, vol=(1.5, 3.0), beta=(1.0, 1.2)
    )
    model = WaypointModel(cfg)
    t = np.arange(0, 4 * DAY, 600)
    for seed in range(5):
        p = model.path(t, seed)
        for wp in BLACK_THURSDAY:
            i = int(np.flatnonzero(t == wp.at)[0])
            assert p[i, 0] == 194.61 * wp.level
            assert p[i, 1] == 3.0 * (1.0 + 1.2 * (wp.level - 1.0))
        assert not np.allclose(
            p[1:72, 0], 194.61 + (p[72, 0] - 194.61) * np.arange(1, 72) / 72
        )  # noisy between


def test_black_thursday_shape() -> None:
    model = WaypointModel(WaypointConfig(assets=("ETH",), s0=100.0, points=BLACK_THURSDAY, vol=0.0))
    t = np.array([0, 6 * HOUR, 12 * HOUR, 26 * HOUR, 50 * HOUR, 80 * HOUR])
    p = model.path(t, 0)[:, 0]
    assert p.tolist() == pytest.approx([100.0, 85.0, 70.0, 44.0, 66.0, 66.0])
    assert p[4] / p[3] == pytest.approx(1.5)  # +50 % rebound within a day of the trough


def test_thin_asset_beta_and_implicit_start_and_offsets_from_first_time() -> None:
    beta_thin = 70 / 15  # majors −15 %, thin assets −70 %
    cfg = WaypointConfig(
        assets=("ETH", "THIN"), s0=1.0, points=(Waypoint(6 * HOUR, 0.85),), beta=(1.0, beta_thin)
    )
    t0 = 1_584_000_000
    p = WaypointModel(cfg).path(np.array([t0, t0 + 3 * HOUR, t0 + 6 * HOUR]), 0)
    assert p[0].tolist() == [1.0, 1.0]
    assert p[2, 0] == 0.85 and p[2, 1] == pytest.approx(0.30)
    assert p[1].tolist() == pytest.approx([0.925, 0.65])


def test_waypoint_noise_is_pinned_even_when_waypoint_is_off_grid() -> None:
    model = WaypointModel(WaypointConfig(assets=("A",), s0=1.0, points=(Waypoint(1000, 0.5),), vol=5.0))
    t = np.array([0, 999, 1001, 5000])
    p = model.path(t, 1)[:, 0]
    assert abs(p[1] - 0.5) < 0.01 and abs(p[2] - 0.5) < 0.01  # bridge variance ~ 1 s either side


# ----------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("kind", "params", "field"),
    [
        ("gbm", {"assets": ["A"], "s0": 1.0, "vol": -0.1}, "gbm.vol"),
        ("gbm", {"assets": ["A", "B"], "s0": [1.0, 0.0]}, "gbm.s0[1]"),
        ("gbm", {"assets": ["A", "B"], "s0": 1.0, "vol": [0.1]}, "gbm.vol"),
        ("gbm", {"assets": ["A", "B"], "s0": 1.0, "correlation": [[1, 0.5], [0.4, 1]]}, "gbm.correlation"),
        (
            "gbm",
            {
                "assets": ["A", "B", "C"],
                "s0": 1.0,
                "correlation": [[1, 0.9, -0.9], [0.9, 1, 0.9], [-0.9, 0.9, 1]],
            },
            "gbm.correlation",
        ),
        (
            "gbm",
            {"assets": ["A", "B"], "s0": 1.0, "correlation": [[1, 1.5], [1.5, 1]]},
            "gbm.correlation[0][1]",
        ),
        ("gbm", {"assets": ["A"], "s0": 1.0, "vol": "high"}, "gbm"),
        ("gbm", {"assets": ["A"], "s0": 1.0, "volatility": 0.2}, "gbm"),
        ("merton", {"assets": ["A"], "s0": 1.0, "jump_intensity": -1}, "merton.jump_intensity"),
        ("merton", {"assets": ["A"], "s0": 1.0, "jump_std": -0.1}, "merton.jump_std"),
        ("garch", {"assets": ["A"], "s0": 1.0, "omega": 1e-6, "alpha": 0.2, "beta": 0.8}, "garch.alpha+beta"),
        ("garch", {"assets": ["A"], "s0": 1.0, "omega": 0.0, "alpha": 0.1, "beta": 0.8}, "garch.omega"),
        ("garch", {"assets": ["A"], "s0": 1.0, "omega": 1e-6, "alpha": -0.1, "beta": 0.8}, "garch.alpha"),
        (
            "waypoints",
            {"assets": ["A"], "s0": 1.0, "points": [{"at": 10, "level": 0.5}, {"at": 5, "level": 0.4}]},
            "waypoints.points[1].at",
        ),
        (
            "waypoints",
            {"assets": ["A"], "s0": 1.0, "points": [{"at": 10, "level": -0.5}]},
            "waypoints.points[0].level",
        ),
        (
            "waypoints",
            {"assets": ["A", "B"], "s0": 1.0, "points": [{"at": 10, "level": 0.3}], "beta": [1, 2]},
            "waypoints.beta",
        ),
        ("nope", {}, "model"),
    ],
)
def test_bad_parameters_raise_typed_errors_naming_the_field(
    kind: str, params: dict[str, object], field: str
) -> None:
    with pytest.raises(LabConfigError) as info:
        build_price_model(kind, params)
    assert isinstance(info.value, InvalidParameters)
    assert info.value.field == field, str(info.value)


@pytest.mark.parametrize(
    ("times", "seed", "match"),
    [
        (np.array([0, 10, 5]), 0, r"times\[2\]=5 is before"),
        (np.array([0.0, 1.0]), 0, "integer seconds"),
        (np.array([], dtype=np.int64), 0, "non-empty"),
        (np.array([0, 1]), -1, "seed"),
    ],
)
def test_bad_times_and_seed(times: np.ndarray, seed: int, match: str) -> None:
    model = GbmModel(GbmConfig(assets=("A",), s0=1.0, vol=0.1))
    with pytest.raises(LabConfigError, match=match):
        model.path(times, seed)


def test_models_from_toml_registry() -> None:
    doc = tomllib.loads(
        """
        [price]
        model = "merton"
        assets = ["ETH", "BTC"]
        s0 = [2000.0, 30000.0]
        drift = 0.0
        vol = [0.8, 0.6]
        correlation = [[1.0, 0.7], [0.7, 1.0]]
        jump_intensity = 12
        jump_mean = -0.08
        jump_std = 0.04

        [crash]
        model = "waypoints"
        assets = ["ETH", "THIN"]
        s0 = 1.0
        vol = 0.5
        beta = [1.0, 1.2]
        points = [{at = 43200, level = 0.70}, {at = 93600, level = 0.44}]
        """
    )
    m = price_model_from_table(doc["price"])
    assert m.assets == ("ETH", "BTC") and m.path(np.arange(10) * 60, 1).shape == (10, 2)
    w = price_model_from_table(doc["crash"])
    assert w.path(np.array([0, 43200]), 1)[1, 0] == 0.70


def test_to_wad_is_to_fixed_per_value_and_refuses_bad_prices() -> None:
    p = np.array([[0.1, 1234.5678], [1e-12, 3.0]])
    assert to_wad(p) == [[to_fixed(0.1), to_fixed(1234.5678)], [10**6, 3 * WAD]]
    with pytest.raises(InvalidValue, match=r"price\[1\]\[0\]"):
        to_wad(np.array([[1.0], [np.nan]]))
    with pytest.raises(InvalidValue, match=r"price\[0\]\[0\]"):
        to_wad(np.array([[0.0]]))
