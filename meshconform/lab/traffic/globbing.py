"""curl's URL globbing: `{a,b,c}` sets and `[1-50]`, `[01-10]`, `[a-z]`, `[1-100:10]` ranges.

As src/tool_urlglob.c: patterns expand like an odometer, the last one fastest; a backslash escapes
`[ ] { }`; a numeric range keeps the width of a zero-padded start (`[01-10]` -> 01..10); a bad
pattern is exit 3 with `bad range in URL position N:` (or `unmatched brace`), the URL and a caret.
"""

from __future__ import annotations

import itertools
import string

MAX_URLS = 100_000      # curl's own limit is higher; a lab call never needs more


class GlobError(ValueError):
    def __init__(self, what: str, url: str, pos: int) -> None:
        super().__init__(f"{what} in URL position {pos}:\n{url}\n{' ' * (pos - 1)}^")


def _range(body: str, url: str, pos: int) -> list[str]:
    step = 1
    if ":" in body:
        body, _, s = body.partition(":")
        if not s.isdigit() or int(s) < 1:
            raise GlobError("bad range", url, pos)
        step = int(s)
    lo, sep, hi = body.partition("-")
    if not sep:
        raise GlobError("bad range", url, pos)
    if lo.isdigit() and hi.isdigit():
        if int(hi) < int(lo):
            raise GlobError("bad range", url, pos)
        width = len(lo) if lo.startswith("0") else 0
        return [str(n).zfill(width) for n in range(int(lo), int(hi) + 1, step)]
    letters = string.ascii_letters
    if len(lo) == 1 and len(hi) == 1 and lo in letters and hi in letters and lo <= hi:
        return [chr(c) for c in range(ord(lo), ord(hi) + 1, step)]
    raise GlobError("bad range", url, pos)


def expand(url: str) -> list[str]:
    """All URLs a globbed URL stands for, in curl's order."""
    parts: list[list[str]] = []
    lit, i = "", 0
    while i < len(url):
        ch = url[i]
        if ch == "\\" and i + 1 < len(url) and url[i + 1] in "[]{}":
            lit += url[i + 1]
            i += 2
            continue
        if ch in "[{":
            close = "]" if ch == "[" else "}"
            end = url.find(close, i + 1)
            if end < 0:
                raise GlobError("unmatched brace" if ch == "{" else "bad range", url, i + 1)
            body = url[i + 1:end]
            parts.append([lit])
            lit = ""
            parts.append(_range(body, url, i + 1) if ch == "[" else body.split(","))
            i = end + 1
            continue
        if ch in "]}":
            raise GlobError("unmatched close brace/bracket", url, i + 1)
        lit += ch
        i += 1
    parts.append([lit])
    total = 1
    for p in parts:
        total *= len(p)
    if total > MAX_URLS:
        raise GlobError("too many URLs", url, 1)
    return ["".join(combo) for combo in itertools.product(*parts)]
