"""Post dates: every accepted form becomes a timezone-aware datetime."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, tzinfo

_SPACE_T = re.compile(r"^(\d{4}-\d{2}-\d{2})[ t](\d)")
_YEARS = range(1000, 9999)


def parse_date(value: object, tz: tzinfo) -> datetime:
    """YAML/TOML datetimes and dates, or ISO 8601 strings; naive values are in ``tz``.

    Raises ValueError with a short reason.
    """
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not a date: {value!r}")
    if isinstance(value, datetime):
        result = value
    elif isinstance(value, date):
        result = datetime.combine(value, time())
    elif isinstance(value, str):
        result = _parse_text(value.strip())
    else:
        raise ValueError(f"not a date: {value!r}")
    if result.tzinfo is None or result.utcoffset() is None:
        result = result.replace(tzinfo=tz)
    try:
        utc = result.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValueError(f"date out of range: {value!r}") from None
    if utc.year not in _YEARS:
        raise ValueError(f"date out of range: {value!r}")
    return utc


def _parse_text(text: str) -> datetime:
    normal = _SPACE_T.sub(r"\1T\2", text)
    if normal.endswith(("Z", "z")):
        normal = normal[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(normal)
    except ValueError:
        pass
    try:
        return datetime.combine(date.fromisoformat(text), time())
    except ValueError:
        raise ValueError(f"unparseable date {text[:40]!r}") from None
