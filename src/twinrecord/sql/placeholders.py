"""Rewriting the user's `?` placeholders for a driver's paramstyle, and counting them.

Everything about reading SQL text lexically (quotes, comments) lives here.
"""

from __future__ import annotations

import re
from functools import lru_cache

_SKIPPED = r"""
  (?P<bq>`(?:[^`]|``)*`)                # backtick identifier (MySQL)
| (?P<lc>--[^\n]*)                      # line comment
| (?P<bc>/\*.*?\*/)                     # block comment
| (?P<dollar>\$(?P<tag>(?:[A-Za-z_][A-Za-z_0-9]*)?)\$.*?\$(?P=tag)\$)  # PostgreSQL $tag$
| (?P<q>\?)
| (?P<pct>%)
"""
# Standard SQL doubles a quote inside a literal or a quoted identifier; MySQL also
# accepts backslash escapes, reads "..." as a string, and has `#` line comments.
_STANDARD = re.compile(
    r"""(?P<sq>'(?:[^']|'')*')|(?P<dq>"(?:[^"]|"")*")|""" + _SKIPPED, re.VERBOSE | re.DOTALL
)
_BACKSLASH = re.compile(
    r"""(?P<sq>'(?:[^'\\]|''|\\.)*')|(?P<dq>"(?:[^"\\]|""|\\.)*")|(?P<hc>\#[^\n]*)|"""
    + _SKIPPED,
    re.VERBOSE | re.DOTALL,
)


@lru_cache(maxsize=4096)
def prepare(sql: str, paramstyle: str, backslash_escapes: bool = False) -> tuple[str, int]:
    """Return (driver_sql, placeholder_count) for SQL written with `?` placeholders.

    `paramstyle` is 'qmark' (text left as is) or 'format' (`?` becomes `%s` and every
    `%` is doubled, since psycopg and mysql-connector scan the whole string for `%`).
    `?` inside literals, quoted identifiers and comments is not a placeholder.
    """
    tokens = _BACKSLASH if backslash_escapes else _STANDARD
    rewrite = paramstyle == "format"
    count = 0
    out: list[str] = []
    position = 0
    for match in tokens.finditer(sql):
        kind = match.lastgroup
        if kind == "q":
            count += 1
            replacement = "%s"
        elif rewrite and "%" in match.group():
            replacement = match.group().replace("%", "%%")
        else:
            continue
        if rewrite:
            out.append(sql[position : match.start()])
            out.append(replacement)
            position = match.end()
    if not rewrite:
        return sql, count
    out.append(sql[position:])
    return "".join(out), count
