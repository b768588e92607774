"""Rewriting the user's `?` placeholders for a driver's paramstyle, counting them, and
refusing a second statement.

Everything about reading SQL text lexically (quotes, comments) lives here.
"""

from __future__ import annotations

import re
from functools import lru_cache

from ..errors import StatementInvalid

_SKIPPED = r"""
| (?P<bq>`(?:[^`]|``)*`)                # backtick identifier (MySQL)
| (?P<q>\?)
| (?P<pct>%)
| (?P<semi>;)
"""
# Standard SQL doubles a quote inside a literal or a quoted identifier. PostgreSQL's
# E'...' strings also take backslash escapes, and it has $tag$ quotes (a `$` inside an
# identifier, as in `a$$`, opens none).
_STANDARD = re.compile(
    r"""(?P<esq>(?<![\w$])[Ee]'(?:[^'\\]|''|\\.)*')
| (?P<sq>'(?:[^']|'')*')
| (?P<dq>"(?:[^"]|"")*")
| (?P<lc>--[^\n]*)
| (?P<bc>/\*.*?\*/)
| (?P<dollar>(?<![\w$])\$(?P<tag>(?:[A-Za-z_][A-Za-z_0-9]*)?)\$.*?\$(?P=tag)\$)
"""
    + _SKIPPED,
    re.VERBOSE | re.DOTALL,
)
# MySQL accepts backslash escapes in every literal, reads "..." as a string, has `#`
# line comments, needs whitespace after `--`, has no dollar quotes (`$` is an
# identifier character), and runs the text of `/*! ... */`, so that is lexed as SQL.
_MYSQL_LINE_COMMENT = r"--(?:[ \t\r\f\v][^\n]*)?(?=\n|\Z)"
_BACKSLASH = re.compile(
    r"""(?P<sq>'(?:[^'\\]|''|\\.)*')
| (?P<dq>"(?:[^"\\]|""|\\.)*")
| (?P<hc>\#[^\n]*)
| (?P<lc>""" + _MYSQL_LINE_COMMENT + r""")
| (?P<bc>/\*(?!!).*?\*/)
"""
    + _SKIPPED,
    re.VERBOSE | re.DOTALL,
)
# What may follow a statement's closing `;`: whitespace and comments only.
_TAIL = re.compile(r"(?:\s+|--[^\n]*|/\*.*?\*/)*\Z", re.DOTALL)
_MYSQL_TAIL = re.compile(
    r"(?:\s+|\#[^\n]*|" + _MYSQL_LINE_COMMENT + r"|/\*(?!!).*?\*/)*\Z", re.DOTALL
)


@lru_cache(maxsize=4096)
def prepare(sql: str, paramstyle: str, backslash_escapes: bool = False) -> tuple[str, int]:
    """Return (driver_sql, placeholder_count) for SQL written with `?` placeholders.

    `paramstyle` is 'qmark' (text left as is) or 'format' (`?` becomes `%s` and every
    `%` is doubled, since psycopg and mysql-connector scan the whole string for `%`).
    `?` inside literals, quoted identifiers and comments is not a placeholder.
    A `;` followed by more than whitespace and comments (a second statement) raises
    StatementInvalid: no call ever runs more than one statement. A final `;` and what
    follows it are left out of the driver SQL.
    """
    tokens = _BACKSLASH if backslash_escapes else _STANDARD
    rewrite = paramstyle == "format"
    count = 0
    out: list[str] = []
    position = 0
    end = len(sql)
    for match in tokens.finditer(sql):
        kind = match.lastgroup
        if kind == "q":
            count += 1
            replacement = "%s"
        elif kind == "semi":
            tail = _MYSQL_TAIL if backslash_escapes else _TAIL
            if not tail.match(sql, match.end()):
                raise _second_statement(sql, match.start())
            # Only whitespace and comments follow: the driver gets the statement without
            # them, so no server (or client flag) ever sees a second, empty statement.
            end = match.start()
            break
        elif rewrite and "%" in match.group():
            replacement = match.group().replace("%", "%%")
        else:
            continue
        if rewrite:
            out.append(sql[position : match.start()])
            out.append(replacement)
            position = match.end()
    if not rewrite:
        return sql[:end], count
    out.append(sql[position:end])
    return "".join(out), count


def check_single_statement(sql: str) -> None:
    """Raise StatementInvalid if `sql` (a fragment or a statement) holds two statements."""
    prepare(sql, "qmark")


def _second_statement(sql: str, at: int) -> StatementInvalid:
    return StatementInvalid(
        "the SQL holds more than one statement (a `;` followed by more SQL at character "
        f"{at}): each call runs exactly one statement; send them one by one. "
        f"Nothing was sent.\n  SQL: {sql}",
        sql,
    )
