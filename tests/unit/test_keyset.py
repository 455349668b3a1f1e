"""Keyset pages: the SQL each store runs and where the next page starts."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from runtime.store._keyset import cut_page, page_query, postgres_placeholder, sqlite_placeholder


@dataclass
class Row:
    id: str


def test_filters_and_cursor_become_placeholders_in_order() -> None:
    sql, params = page_query(
        "id, status",
        "robots",
        [("status", "queued"), ("type", None)],
        "r9",
        10,
        postgres_placeholder,
    )
    assert sql == (
        "SELECT id, status FROM robots WHERE status = $1 AND id < $2 ORDER BY id DESC LIMIT $3"
    )
    assert params == ["queued", "r9", 11]
    sql, params = page_query("*", "audit_log", [("actor", None)], None, 5, sqlite_placeholder)
    assert sql == "SELECT * FROM audit_log ORDER BY id DESC LIMIT ?" and params == [6]


def test_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError):
        page_query("*", "robots", [], None, 0, sqlite_placeholder)


def test_the_extra_row_says_whether_a_next_page_exists() -> None:
    assert cut_page(["c", "b", "a"], 2, Row) == ([Row("c"), Row("b")], "b")
    assert cut_page(["b", "a"], 2, Row) == ([Row("b"), Row("a")], None)
    assert cut_page([], 2, Row) == ([], None)
