"""Where ``simulate`` and ``sweep`` may write, and how, so that no run ever destroys a user's files.

The policy, in one place:

- a path that does not exist becomes a new folder: the outputs are written to a hidden temporary
  folder next to it and renamed into place in one step (an interruption leaves nothing at ``out``);
- an existing folder is used only if it is empty or is a previous clearhouse output, recognised by the
  marker file :data:`MARKER` (JSON listing the files clearhouse wrote there) and holding nothing else;
- anything else (a file, a folder with other content, a marker listing odd names) is refused with
  :class:`OutputDirError` before anything is written.

Only files a marker lists (and clearhouse's own temporary folders inside a marked folder) are ever
deleted. While an existing folder is being updated its marker says ``"complete": false``, so an
interrupted update never looks complete and can be rerun.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["MARKER", "OutputDirError", "check_output_dir", "write_output_dir"]

#: Marker file clearhouse writes into every output folder.
MARKER = ".clearhouse-output"
_FORMAT = "clearhouse-output/1"
_TMP_PREFIX = ".clearhouse-tmp-"


class OutputDirError(ValueError):
    """The output path may not receive clearhouse outputs; nothing was written or deleted."""


def _read_marker(out: Path) -> set[str] | None:
    """The file names a valid marker in ``out`` lists, or None (no marker, unreadable, or odd names)."""
    try:
        doc = json.loads((out / MARKER).read_text())
    except (OSError, ValueError):
        return None
    files = doc.get("files") if isinstance(doc, dict) and doc.get("format") == _FORMAT else None
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        return None
    if any(f in ("", ".", "..", MARKER) or "/" in f or "\\" in f for f in files):
        return None
    return set(files)


def _write_marker(out: Path, files: set[str], *, complete: bool) -> None:
    doc = {"format": _FORMAT, "complete": complete, "files": sorted(files)}
    tmp = out / f"{MARKER}.tmp"
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    os.replace(tmp, out / MARKER)


def _shown(names: list[str]) -> str:
    return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def check_output_dir(out: Path) -> None:
    """Raise :class:`OutputDirError` unless ``out`` is new, empty, or a previous clearhouse output."""
    if out.exists() and not out.is_dir():
        raise OutputDirError(f"output path {out} is a file, not a folder; choose another -o")
    if not out.exists():
        parent = next((p for p in out.absolute().parents if p.exists()), None)
        if parent is not None and not parent.is_dir():
            raise OutputDirError(f"cannot create output folder {out}: {parent} is a file")
        return
    entries = sorted(os.listdir(out))
    if not entries:
        return
    listed = _read_marker(out)
    if listed is None:
        raise OutputDirError(
            f"output folder {out} is not empty and is not a clearhouse output (no valid {MARKER}); "
            "refusing to write into it: choose a new or empty folder"
        )
    ours = {MARKER, f"{MARKER}.tmp"}  # the marker, and its replacement if a write was cut short
    foreign = [e for e in entries if e not in listed and e not in ours and not e.startswith(_TMP_PREFIX)]
    if foreign:
        raise OutputDirError(
            f"output folder {out} holds files clearhouse did not write ({_shown(foreign)}); "
            "refusing to replace it: move them or choose another folder"
        )


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def write_output_dir(out: Path, fill: Callable[[Path], None]) -> None:
    """Let ``fill`` write the outputs into a temporary folder, then put them at ``out`` (policy above)."""
    out = out.absolute()
    check_output_dir(out)
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
        try:
            tmp.chmod(0o755)
            fill(tmp)
            _write_marker(tmp, set(os.listdir(tmp)), complete=True)
            os.rename(tmp, out)  # fails (nothing lost) if something non-empty appeared at out meanwhile
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return
    old = _read_marker(out)
    was_empty = old is None
    old = old or set()
    _write_marker(out, old, complete=False)
    tmp = Path(tempfile.mkdtemp(prefix=_TMP_PREFIX, dir=out))
    try:
        fill(tmp)
        new = set(os.listdir(tmp))
        _write_marker(out, old | new, complete=False)
        for name in sorted(old - new):
            _remove(out / name)
        for name in sorted(new):
            if (out / name).is_dir() and not (out / name).is_symlink():
                shutil.rmtree(out / name)  # listed in the marker (checked above), so ours
            os.replace(tmp / name, out / name)
        _write_marker(out, new, complete=True)
        for leftover in out.iterdir():  # temporary folders of interrupted earlier runs
            if leftover.name.startswith(_TMP_PREFIX) and leftover != tmp:
                shutil.rmtree(leftover, ignore_errors=True)
    except BaseException:
        if was_empty and set(os.listdir(out)) <= {MARKER, tmp.name}:
            (out / MARKER).unlink(missing_ok=True)  # a folder that was empty is left empty
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
