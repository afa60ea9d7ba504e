"""Moved to :mod:`clearhouse.engine.engine`; re-exported here for one release (docs and tests import it).

The one allow-listed upward import of the layout (tests/test_architecture.py).
"""

from __future__ import annotations

from clearhouse.engine.engine import BlockResult, Engine

__all__ = ["BlockResult", "Engine"]
