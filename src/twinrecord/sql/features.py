"""Which server a statement is compiled for, and what each one refuses (API.md §13.7).

Rule: every capability refusal is decided here, from the dialect's name and the
server's version, before anything is sent; the compiler asks, never guesses.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from ..errors import FeatureNotSupported
from .dialect import Dialect

_NEWEST = (999,)
_NAMES = {"postgresql": "PostgreSQL", "mysql": "MySQL", "mariadb": "MariaDB", "sqlite": "SQLite"}


class Server(NamedTuple):
    """A database server: 'postgresql', 'mysql', 'mariadb' or 'sqlite', and its version."""

    flavor: str
    version: tuple[int, ...] = _NEWEST

    def label(self) -> str:
        name = _NAMES.get(self.flavor, self.flavor)
        if self.version == _NEWEST:
            return f"{name} (version not read yet: compiled for the newest)"
        return f"{name} {'.'.join(map(str, self.version))}"

    def at_least(self, *version: int) -> bool:
        return self.version >= version


def newest(dialect: Dialect) -> Server:
    """What `to_sql()` compiles for before the first connection told the version."""
    return Server(dialect.name)


def parse_mysql_version(text: str) -> Server:
    """'8.0.36' -> MySQL 8.0.36, '10.11.19-MariaDB-0+deb12u1' -> MariaDB 10.11.19
    (MariaDB may report '5.5.5-10.11.19-MariaDB': a prefix kept for old replicas)."""
    if text.startswith("5.5.5-") and "mariadb" in text.lower():
        text = text[len("5.5.5-") :]
    numbers = tuple(int(n) for n in re.findall(r"\d+", text.split("-", 1)[0])[:3])
    flavor = "mariadb" if "mariadb" in text.lower() else "mysql"
    return Server(flavor, numbers or _NEWEST)


def parse_postgres_version(number: int) -> Server:
    """psycopg's `info.server_version` (150020) -> PostgreSQL 15.20."""
    return Server("postgresql", (number // 10000, number % 10000))


def refuse(feature: str, server: Server, alternative: str) -> FeatureNotSupported:
    return FeatureNotSupported(
        f"{feature} is not supported on {server.label()}; {alternative}. Nothing was sent."
    )


def check_join(kind: str, server: Server) -> None:
    if kind == "FULL" and server.flavor in ("mysql", "mariadb"):
        raise refuse(
            "FULL JOIN",
            server,
            "use a LEFT JOIN united (union()) with a RIGHT JOIN, or run it on PostgreSQL",
        )
    if kind in ("RIGHT", "FULL") and server.flavor == "sqlite" and not server.at_least(3, 39):
        raise refuse(
            f"{kind} JOIN",
            server,
            "SQLite has it from 3.39; swap the tables and use left_join()",
        )


def check_set_operation(operation: str, all_rows: bool, server: Server) -> None:
    if operation == "UNION":
        return
    name = f"{operation} ALL" if all_rows else operation
    if server.flavor == "mysql" and not server.at_least(8, 0, 31):
        raise refuse(name, server, "MySQL has it from 8.0.31; use in_() / not_in() with a subquery")
    if server.flavor == "sqlite" and all_rows:
        raise refuse(name, server, f"use {operation} without all=True (distinct rows)")
    if server.flavor == "mariadb" and all_rows and not server.at_least(10, 5):
        raise refuse(name, server, f"MariaDB has it from 10.5; use {operation} without all=True")


def check_distinct_on(server: Server) -> None:
    if server.flavor != "postgresql":
        raise refuse(
            "DISTINCT ON",
            server,
            "it is PostgreSQL-only; rank rows with func.row_number().over(partition_by=...) "
            "in a subquery and keep rank 1",
        )


def check_window_or_cte(feature: str, server: Server) -> None:
    too_old = (server.flavor == "mysql" and not server.at_least(8)) or (
        server.flavor == "mariadb" and not server.at_least(10, 2)
    )
    if too_old:
        raise refuse(feature, server, "it needs MySQL 8.0 or MariaDB 10.2")
