"""Account tables for executing on part of the state: one that notes what execution reads (to build a
witness), one that holds only the witnessed accounts and refuses anything else (to check it).

The engine reaches accounts only through ``state.accounts`` (look-ups, ``in``, ``len`` for the next
index, and iteration for whole-ledger scans), so swapping this one dict is enough to see, or bound,
everything a block reads.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from clearhouse.ledger.model import Account


class WitnessIncomplete(Exception):
    """Execution needed an account the witness does not hold, or all of them."""


class RecordingAccounts(dict[str, Account]):
    """The full account table, noting every id looked up (found or not) and any iteration."""

    def __init__(self, data: dict[str, Account]) -> None:
        super().__init__(data)
        self.found: set[str] = set()
        self.missing: set[str] = set()
        self.reads_all = False

    def _note(self, key: object) -> None:
        if isinstance(key, str):
            (self.found if dict.__contains__(self, key) else self.missing).add(key)

    def __getitem__(self, key: str) -> Account:
        self._note(key)
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self._note(key)
        return super().get(key, default)

    def __contains__(self, key: object) -> bool:
        self._note(key)
        return super().__contains__(key)

    def __iter__(self) -> Iterator[str]:
        self.reads_all = True
        return super().__iter__()

    def keys(self) -> Any:
        self.reads_all = True
        return super().keys()

    def values(self) -> Any:
        self.reads_all = True
        return super().values()

    def items(self) -> Any:
        self.reads_all = True
        return super().items()


class PartialAccounts(dict[str, Account]):
    """The witnessed accounts; ``len`` is the real count; anything else raises :class:`WitnessIncomplete`.

    It raises an exception the engine does not catch per transaction (not a ``ClearhouseError``), so a
    missing witness aborts the re-execution instead of turning into a rejected transaction."""

    def __init__(self, data: dict[str, Account], count: int, absent: set[str]) -> None:
        super().__init__(data)
        self.count = count
        self.absent = set(absent)

    def _known(self, key: object) -> bool:
        if dict.__contains__(self, key):
            return True
        if key in self.absent:
            return False
        raise WitnessIncomplete(f"the step reads account {key!r}, which the witness does not cover")

    def __getitem__(self, key: str) -> Account:
        if not self._known(key):
            raise KeyError(key)
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key, default) if self._known(key) else default

    def __contains__(self, key: object) -> bool:
        return self._known(key)

    def __setitem__(self, key: str, value: Account) -> None:
        if not dict.__contains__(self, key):
            self.count += 1
            self.absent.discard(key)
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self.count -= 1
        self.absent.add(key)

    def __len__(self) -> int:
        return self.count

    def _all(self) -> Any:
        raise WitnessIncomplete("the step iterates over every account; no small witness exists")

    __iter__ = keys = values = items = _all


__all__ = ["PartialAccounts", "RecordingAccounts", "WitnessIncomplete"]
