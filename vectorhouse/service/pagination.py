"""Cursor pagination (limit/order/after/before) over any catalog table with `seq` and `id` columns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import ColumnElement, Connection, Row, Table, select

from vectorhouse.errors import InvalidRequest


@dataclass(frozen=True)
class PageRequest:
    limit: int = 20
    order: Literal["asc", "desc"] = "desc"
    after: str | None = None
    before: str | None = None


@dataclass(frozen=True)
class Page:
    rows: Sequence[Row[Any]]
    has_more: bool


def _cursor_seq(conn: Connection, table: Table, id_column: Any, where: Sequence[ColumnElement[bool]],
                value: str, param: str) -> int:
    seq = conn.execute(select(table.c.seq).where(id_column == value, *where)).scalar()
    if seq is None:
        raise InvalidRequest(f"'{param}' cursor '{value}' does not name an object in this list", param=param)
    return int(seq)


def paginate(conn: Connection, table: Table, where: Sequence[ColumnElement[bool]], page: PageRequest,
             id_column: Any = None) -> Page:
    """Rows in creation order (`seq`, which never ties), strictly after/before the cursor objects."""
    id_column = table.c.id if id_column is None else id_column
    conditions = list(where)
    descending = page.order == "desc"
    if page.after is not None:
        seq = _cursor_seq(conn, table, id_column, where, page.after, "after")
        conditions.append(table.c.seq < seq if descending else table.c.seq > seq)
    backwards = False
    if page.before is not None:
        seq = _cursor_seq(conn, table, id_column, where, page.before, "before")
        conditions.append(table.c.seq > seq if descending else table.c.seq < seq)
        # The page just before the cursor: walk away from it, then turn the page round.
        backwards = True
    ascending = descending if backwards else not descending
    ordering = table.c.seq.asc() if ascending else table.c.seq.desc()
    rows = conn.execute(select(table).where(*conditions).order_by(ordering).limit(page.limit + 1)).all()
    has_more = len(rows) > page.limit
    rows = rows[: page.limit]
    if backwards:
        rows = list(reversed(rows))
    return Page(rows=rows, has_more=has_more)
