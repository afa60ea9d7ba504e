"""Hypothesis settings for the whole suite.

The machines that run the suite are shared and noisy, so no property test has a per-example deadline
(a slow example is not a bug). Under CI (``CI=true``, as ``.ci/run`` is run) the examples are
derandomized: the same examples on every run, so a red CI always means a change, never a lucky draw;
developers' runs keep exploring new examples.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("clearhouse", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "clearhouse")
