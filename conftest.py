"""Root conftest: makes `tests/fixtures` importable as plugins for every test directory."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "tests"))

pytest_plugins = ["fixtures.sops"]
