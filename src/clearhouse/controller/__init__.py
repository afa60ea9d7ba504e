"""Risk controllers: plug-ins outside the engine that propose parameter changes; the steward disposes.

See docs/controller.md for each controller's law and objective and :mod:`clearhouse.steward` for the
guardrails every proposal must pass.
"""
