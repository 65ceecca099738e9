"""File downloads from pages: CSV and XLSX with the spreadsheet guard of `kb_app.exports`."""

from __future__ import annotations

import io
from typing import Any, Iterable, Mapping

from flask import Response
from openpyxl import Workbook

from kb_app.exports import csv_text, spreadsheet_safe

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def csv_download(headers: list[str], rows: Iterable[Mapping[str, Any]], filename: str) -> Response:
    return Response(
        csv_text(headers, rows),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def xlsx_download(headers: list[str], rows: Iterable[Mapping[str, Any]], filename: str, *, title: str) -> Response:
    """One sheet: a header row, then each row's cells in `headers` order, guarded like the CSV."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = title[:31]
    sheet.append(headers)
    for row in rows:
        sheet.append([spreadsheet_safe(row.get(h)) for h in headers])
    out = io.BytesIO()
    workbook.save(out)
    return Response(
        out.getvalue(), mimetype=XLSX_MIMETYPE, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )
