"""The in-memory banks of a quiz directory: reloaded when a file changes, looked at again at most
every `recheck_seconds` (a worker asks for them on every quiz and banner request)."""

from __future__ import annotations

import time

from kb_app.quizzes.library import BankLibrary
from tests.quizzes.factories import make_bank, write_bank


def test_an_added_bank_shows_once_the_recheck_time_has_passed(tmp_path):
    write_bank(tmp_path, make_bank("cert-one"))
    library = BankLibrary(tmp_path, recheck_seconds=0.3)
    first = library.current()
    assert set(first.banks) == {"cert-one"}
    write_bank(tmp_path, make_bank("cert-two"))
    assert library.current() is first  # within the recheck time: the files are not looked at
    time.sleep(0.35)
    again = library.current()
    assert set(again.banks) == {"cert-one", "cert-two"}
    time.sleep(0.35)
    assert library.current() is again  # looked at again, nothing changed: the same banks
    write_bank(tmp_path, make_bank("cert-three"))
    assert library.current() is again  # and not looked at again within the recheck time


def test_without_a_recheck_time_every_call_looks_at_the_files(tmp_path):
    library = BankLibrary(tmp_path, recheck_seconds=0)
    assert library.current().banks == {}
    write_bank(tmp_path, make_bank("cert-one"))
    assert set(library.current().banks) == {"cert-one"}
