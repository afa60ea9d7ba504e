"""Dated futures and European options: pure building blocks (issue 13).

Self-contained modules, not yet wired into the engine:

* :mod:`~clearhouse.options.pricing` — Black-76 / Black-Scholes prices, Greeks, implied vol (floats,
  risk views only);
* :mod:`~clearhouse.options.surface` — SVI and grid volatility surfaces, integer-encoded and validated;
* :mod:`~clearhouse.options.settlement` — expiry settlement price (30-minute TWAP) and payoffs, exact;
* :mod:`~clearhouse.options.instruments` — contract specs and the expiry calendar, exact;
* :mod:`~clearhouse.options.portfolio_margin` — scenario-grid portfolio margin (float table, exact
  margin arithmetic);
* :mod:`~clearhouse.options.greeks` — per-account Greeks and distance to liquidation (floats).

The float screen of every account over the grid (never missing a liquidation the exact check would
find) is :mod:`clearhouse.risk.portfolio_scan`; the design and figures are in docs/portfolio-margin.md.
"""
