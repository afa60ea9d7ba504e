"""Authentication and authorization: keys, signed envelopes, replay protection, signed orders, and who
may send which command. Pure and deterministic (no clock, no network); the engine integrates it later.
See docs/auth.md."""
