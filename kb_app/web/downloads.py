"""File downloads from pages: CSV with the spreadsheet guard of `kb_app.exports`."""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from flask import Response

from kb_app.exports import csv_text


def csv_download(headers: list[str], rows: Iterable[Mapping[str, Any]], filename: str) -> Response:
    return Response(
        csv_text(headers, rows),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
