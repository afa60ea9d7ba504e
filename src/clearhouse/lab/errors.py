"""Typed errors of the stress lab; each names the field, or the file and line, that was wrong."""

from __future__ import annotations

from clearhouse.core.errors import InvalidParameters, InvalidValue


class LabConfigError(InvalidParameters):
    """A price-model or network parameter that makes no sense; ``field`` names it (``"gbm.vol"``)."""

    code = "lab_config"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class LabDataError(InvalidValue):
    """A data file (price or gas CSV) that cannot be used; ``file`` and ``line`` (1-based) locate it.

    Also raised when a simulation time falls outside the data (``line`` is then ``None``).
    """

    code = "lab_data"

    def __init__(self, file: str, line: int | None, message: str) -> None:
        where = file if line is None else f"{file}:{line}"
        super().__init__(f"{where}: {message}")
        self.file = file
        self.line = line
