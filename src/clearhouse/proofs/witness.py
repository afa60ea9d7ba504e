"""A data-only codec for engine state objects, so a one-step proof can carry the pre-state it re-executes.

The engine's state holds plain classes (``MarketState``, ``MarkPrice``, ``OracleFeed``...) that have no
wire format of their own. This codec writes any value built from ints, strings, bools, None, floats,
lists, tuples, dicts, sets, enums, msgspec structs and ``clearhouse.*`` classes (their slots or
``__dict__``) as JSON, and reads it back **without running any code of the document's choosing**: a class
is looked up only inside the ``clearhouse`` package, created with ``object.__new__`` (or a struct's own
constructor) and filled attribute by attribute. Unlike pickle, a hostile document can at worst build a
wrong state, which the state-root check then refuses.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
from typing import Any

import msgspec

from clearhouse.ledger.errors import ClearhouseError
from clearhouse.ledger.model import NO_ENTRIES

_encoder = msgspec.json.Encoder(order="deterministic")


class WitnessError(ClearhouseError):
    code = "witness_invalid"


def _class_path(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _resolve(path: object) -> type:
    if not isinstance(path, str) or ":" not in path:
        raise WitnessError(f"bad class reference {path!r}")
    module, qualname = path.split(":", 1)
    if module != "clearhouse" and not module.startswith("clearhouse."):
        raise WitnessError(f"class {path} is outside the clearhouse package")
    try:
        obj: Any = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        raise WitnessError(f"unknown class {path}") from None
    if not isinstance(obj, type):
        raise WitnessError(f"{path} is not a class")
    return obj


def _slots(cls: type) -> list[str]:
    names: list[str] = []
    for klass in reversed(cls.__mro__):
        slots = klass.__dict__.get("__slots__", ())
        if isinstance(slots, str):
            slots = (slots,)
        names.extend(s for s in slots if s not in ("__dict__", "__weakref__") and s not in names)
    return names


def to_data(value: Any) -> Any:
    """A JSON-able tree for ``value``."""
    if isinstance(value, enum.Enum):  # first: a StrEnum / IntEnum member is also a str / int
        return {"t": "enum", "c": _class_path(type(value)), "v": to_data(value.value)}
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return {"t": "float", "v": value.hex()}
    if isinstance(value, list):
        return {"t": "list", "v": [to_data(v) for v in value]}
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return {"t": "tuple", "v": [to_data(v) for v in value]}
    if isinstance(value, dict) and (type(value) is dict or value is NO_ENTRIES):
        # NO_ENTRIES (an account's shared empty vaults / contracts) travels as the empty dict it reads as
        return {"t": "dict", "v": [[to_data(k), to_data(v)] for k, v in value.items()]}
    if isinstance(value, set | frozenset):
        items = sorted((to_data(v) for v in value), key=lambda d: _encoder.encode(d))
        return {"t": "frozenset" if isinstance(value, frozenset) else "set", "v": items}
    cls = type(value)
    if not cls.__module__.startswith("clearhouse"):
        raise WitnessError(f"cannot carry a {_class_path(cls)} in a witness")
    if isinstance(value, msgspec.Struct):
        return {
            "t": "struct",
            "c": _class_path(cls),
            "f": {f: to_data(getattr(value, f)) for f in value.__struct_fields__},
        }
    names = [f.name for f in dataclasses.fields(value)] if dataclasses.is_dataclass(value) else _slots(cls)
    attrs = {n: to_data(getattr(value, n)) for n in names if hasattr(value, n)}
    if hasattr(value, "__dict__"):
        attrs.update({n: to_data(v) for n, v in vars(value).items()})
    return {"t": "obj", "c": _class_path(cls), "a": attrs}


def from_data(data: Any) -> Any:
    """Inverse of :func:`to_data`; raises :class:`WitnessError` on anything it did not write."""
    if data is None or isinstance(data, bool | int | str):
        return data
    if not isinstance(data, dict) or "t" not in data:
        raise WitnessError("malformed witness value")
    t = data["t"]
    try:
        if t == "float":
            return float.fromhex(data["v"])
        if t == "list":
            return [from_data(v) for v in data["v"]]
        if t == "tuple":
            return tuple(from_data(v) for v in data["v"])
        if t == "dict":
            return {from_data(k): from_data(v) for k, v in data["v"]}
        if t in ("set", "frozenset"):
            items = [from_data(v) for v in data["v"]]
            return frozenset(items) if t == "frozenset" else set(items)
        cls = _resolve(data["c"])
        if t == "enum":
            if not issubclass(cls, enum.Enum):
                raise WitnessError(f"{data['c']} is not an enum")
            return cls(from_data(data["v"]))
        if t == "struct":
            if not issubclass(cls, msgspec.Struct):
                raise WitnessError(f"{data['c']} is not a struct")
            return cls(**{k: from_data(v) for k, v in data["f"].items()})
        if t == "obj":
            obj: Any = object.__new__(cls)
            for name, v in data["a"].items():
                object.__setattr__(obj, name, from_data(v))
            return obj
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise WitnessError(f"malformed witness value: {err}") from None
    raise WitnessError(f"unknown witness tag {t!r}")


def dumps(value: Any) -> str:
    return _encoder.encode(to_data(value)).decode()


def loads(text: str) -> Any:
    try:
        return from_data(msgspec.json.decode(text.encode()))
    except msgspec.DecodeError as err:
        raise WitnessError(f"witness is not JSON: {err}") from None


__all__ = ["WitnessError", "dumps", "from_data", "loads", "to_data"]
