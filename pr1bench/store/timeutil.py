"""UTC timestamps: every TIMESTAMP column in the store is naive UTC, so conversions live in one place."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Now, as a naive UTC datetime (what the TIMESTAMP columns hold)."""
    return datetime.now(UTC).replace(tzinfo=None)


def parse_utc(value: object) -> datetime | None:
    """An ISO 8601 string (``Z`` or an offset allowed), a unix time or a datetime, as naive UTC.

    Raises:
        ValueError: the value is none of those.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(float(value), UTC).replace(tzinfo=None)
    elif isinstance(value, str):
        dt = datetime.fromisoformat(value.strip())
    else:
        raise ValueError(f"not a timestamp: {value!r}")
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC).replace(tzinfo=None)
    return dt
