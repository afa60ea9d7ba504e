"""The complete example of docs/auth-engine-interface.md runs as written (the node builds on it)."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "auth-engine-interface.md"


def test_the_complete_example_runs_and_prints_what_it_says() -> None:
    text = DOC.read_text()
    section = text[text.index("## A complete example") :]
    (code,) = re.findall(r"```python\n(.*?)```", section, re.S)
    out = io.StringIO()
    namespace: dict[str, object] = {"__name__": "__doc_example__"}
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(DOC), "exec"), namespace)
    assert out.getvalue().strip() == "[('applied', None), ('refused', 'unauthorized')]"
    assert "# [('applied', None), ('refused', 'unauthorized')]" in code
