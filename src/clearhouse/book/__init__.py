"""The order book: signed limit orders matched by price-time priority into fills the engine re-checks."""
