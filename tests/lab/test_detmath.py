"""Deterministic exp and Cholesky used by the price models."""

from __future__ import annotations

import math

import numpy as np

from clearhouse.lab.detmath import cholesky, correlate, det_exp


def test_det_exp_matches_libm_within_two_ulp() -> None:
    x = np.random.Generator(np.random.PCG64(7)).uniform(-700.0, 700.0, 50_000)
    ref = np.array([math.exp(v) for v in x])
    assert np.max(np.abs(det_exp(x) - ref) / ref) <= 2 * 2.0**-52


def test_det_exp_special_values() -> None:
    out = det_exp(np.array([0.0, -0.0, 1.0, np.nan, 800.0, -800.0]))
    assert out[0] == 1.0 and out[1] == 1.0
    assert abs(out[2] - math.e) <= 2.0**-51
    assert np.isnan(out[3]) and out[4] == np.inf and out[5] == 0.0


def test_cholesky_reproduces_matrix_and_handles_singular_psd() -> None:
    c = [[1.0, 0.5, 0.2], [0.5, 1.0, 0.3], [0.2, 0.3, 1.0]]
    lower = np.array(cholesky(c))
    assert np.allclose(lower @ lower.T, c, atol=1e-15)
    singular = [[1.0, 1.0], [1.0, 1.0]]  # perfectly correlated: PSD, not PD
    lo = cholesky(singular)
    assert lo == [[1.0, 0.0], [1.0, 0.0]]
    eps = np.array([[0.3, -2.0], [1.5, 0.1]])
    z = correlate(eps, lo)
    assert np.array_equal(z[:, 0], z[:, 1])
