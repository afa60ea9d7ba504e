"""Mechanisms: one module or package per mechanism, each exporting ``HANDLERS`` (command type -> handler).

``accounts`` (reference data, accounts, deposits, withdrawals), ``perps`` (markets, trading, funding),
``perp_liquidation`` (close-out, ``Liquidate``, the loss waterfall, ADL, the backstop pool), ``amm`` (the
market's pool), ``vaults`` (debt positions and their disposal paths, lending included). Handlers change
the ledger only through :mod:`clearhouse.ledger.kernel`; they import nothing from ``clearhouse.engine``.
``clearhouse.engine.registry`` merges the tables and checks them against the command union at import.
"""
