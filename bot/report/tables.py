"""The report's three CSV files: records.csv, audit_events.csv and escalations.csv, one row
per database row (every mapped column, in table order, after any derived columns), a header
row, UTF-8, times as ISO 8601 UTC, JSON columns as JSON. A text cell that a spreadsheet
would run as a formula gets a leading apostrophe: commissioners open these in Excel.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.types import JSON

from store.evidence import Evidence
from store.models import AuditEvent, DueWork, Record

RECORDS_CSV = "records.csv"
EVENTS_CSV = "audit_events.csv"
ESCALATIONS_CSV = "escalations.csv"


def _defuse(text: str) -> str:
    """Spreadsheets run a cell that starts with = + - @ as a formula; an apostrophe first
    makes it text (OWASP's advice for CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _cell(value: Any, *, is_json: bool = False) -> Any:
    if is_json:
        return "" if value is None else _defuse(json.dumps(value, ensure_ascii=False,
                                                           sort_keys=True))
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, str):
        return _defuse(value)
    return value


Table = tuple[list[str], list[list[Any]]]


def _model_table(rows: Sequence[Any], model: type[Any],
                 extra: Sequence[tuple[str, Callable[[Any], Any]]] = ()) -> Table:
    """Every mapped column of `model`, in table order, after any derived columns."""
    attrs = list(inspect(model).column_attrs)
    header = [name for name, _ in extra] + [a.key for a in attrs]
    body = []
    for row in rows:
        cells = [_cell(get(row)) for _, get in extra]
        cells += [_cell(getattr(row, a.key), is_json=isinstance(a.columns[0].type, JSON))
                  for a in attrs]
        body.append(cells)
    return header, body


def columns_table(rows: Sequence[Any],
                  columns: Sequence[tuple[str, Callable[[Any], Any]]]) -> Table:
    """Named columns, each read from a row by its function (values as _cell writes them)."""
    return [name for name, _ in columns], [[_cell(get(row)) for _, get in columns]
                                           for row in rows]


def records_table(evidence: Evidence) -> Table:
    return _model_table(evidence.records, Record, [
        ("reference", lambda r: r.reference),
        ("partner_name", lambda r: r.partner.display_name),
    ])


def events_table(evidence: Evidence) -> Table:
    return _model_table(evidence.events, AuditEvent)


def escalations_table(evidence: Evidence) -> Table:
    refs = {r.id: r.reference for r in (*evidence.records, *evidence.trackers,
                                         *evidence.steps)}
    return _model_table(evidence.escalations, DueWork, [
        ("record_ref", lambda w: refs.get(w.record_id, "")),
    ])


def write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> int:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    os.replace(tmp, path)  # a reader never sees half a file
    return len(rows)


def write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)

