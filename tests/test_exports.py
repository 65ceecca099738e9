"""CSV exports keep user text from running as spreadsheet formulas."""

import csv
import io

from kb_app.exports import csv_text, spreadsheet_safe


def test_formula_starts_are_kept_as_text():
    for hostile in ('=HYPERLINK("x")', "+1", "-2+3", "@SUM(A1)", "\tcmd", "\rx"):
        assert spreadsheet_safe(hostile) == "'" + hostile
    assert spreadsheet_safe("ATO-RECOVERY") == "ATO-RECOVERY"
    assert spreadsheet_safe(-5) == -5  # numbers stay numbers


def test_csv_text_ignores_extra_columns_and_guards_cells():
    text = csv_text(["name", "count"], [{"name": "=cmd", "count": 3, "extra": "x"}])
    assert list(csv.DictReader(io.StringIO(text))) == [{"name": "'=cmd", "count": "3"}]
