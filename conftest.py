"""Root conftest: plugins for every test directory, and the Hypothesis profiles.

`tests/` is on sys.path through the `pythonpath` option in pyproject.toml, so test helpers
import as `fixtures.*`, `test_search_fixtures`, ...
"""

import os

from hypothesis import settings

pytest_plugins = ["fixtures.sops"]

# `dev` for local runs: fewer examples, quick feedback. `ci` when the CI variable is set: more
# examples, the same ones on every run (a red build can be rerun and stays red), and no deadline
# on a shared machine. `pytest --hypothesis-profile=ci` picks one by hand. A test's own
# `@settings(max_examples=...)` still wins over either profile.
settings.register_profile("dev", max_examples=25)
settings.register_profile("ci", max_examples=200, derandomize=True, deadline=None, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")
