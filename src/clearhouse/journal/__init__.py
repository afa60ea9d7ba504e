"""Hash-chained journal of blocks: the store port, its three stores, replay and verification."""

from clearhouse.journal.open import open_store, sqlite_path

__all__ = ["open_store", "sqlite_path"]
