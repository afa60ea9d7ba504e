"""clearhouse: deterministic code-based enforcement for decentralised derivative markets."""

__version__ = "0.1.0"
