"""Parse acquisition times written in the formats rasters, EXIF, manifests and STAC use.

Accepted: ISO 8601 (with or without zone: UTC is assumed), EXIF `YYYY:MM:DD HH:MM:SS`, `YYYY/MM/DD`, `YYYYMMDD`,
`YYYYMMDDTHHMMSS`, a year `YYYY` (or the number), a month `YYYY-MM`, and Unix times in seconds (any other number, or a
string of digits with at least 9 of them). A time of a coarser granularity (a year, a month, a day) is its first
instant;
`parse_period` gives its last one too, which is what `--before 2021` or `--before 20210315` means.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_FORMATS = ("%Y:%m:%d %H:%M:%S", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d", "%Y%m%dT%H%M%S")
_PERIODS = (  # (pattern, strptime format, granularity)
    (re.compile(r"\d{4}"), "%Y", "year"),
    (re.compile(r"\d{4}-\d{2}"), "%Y-%m", "month"),
    (re.compile(r"\d{8}"), "%Y%m%d", "day"),
    (re.compile(r"\d{4}-\d{2}-\d{2}"), "%Y-%m-%d", "day"),
    (re.compile(r"\d{4}/\d{2}/\d{2}"), "%Y/%m/%d", "day"),
    (re.compile(r"\d{4}:\d{2}:\d{2}"), "%Y:%m:%d", "day"),
)
_UNIX = re.compile(r"-?\d{9,}(\.\d+)?")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_time(value: object) -> datetime | None:
    """A timezone-aware UTC datetime, or None when the value is not a time."""
    period = parse_period(value)
    return period[0] if period else None


def parse_period(value: object) -> tuple[datetime, datetime] | None:
    """The first and last instant a time value names: equal for an instant, a whole day, month or year otherwise."""
    if isinstance(value, datetime):
        return _utc(value), _utc(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        if isinstance(value, int) and 1000 <= value <= 9999:  # a year written as a number
            return parse_period(str(value))
        moment = _unix(float(value))
        return (moment, moment) if moment else None
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    for pattern, fmt, granularity in _PERIODS:
        if pattern.fullmatch(text):
            try:
                start = datetime.strptime(text, fmt).replace(tzinfo=UTC)
            except ValueError:
                return None
            return start, _end(start, granularity)
    if _UNIX.fullmatch(text):
        moment = _unix(float(text))
        return (moment, moment) if moment else None
    moment = _parse_instant(text)
    return (moment, moment) if moment else None


def epoch_seconds(moment: datetime) -> int:
    """Whole seconds since 1970 (UTC), rounded down, so no time moves into the next second or day."""
    delta = moment - _EPOCH
    return delta.days * 86_400 + delta.seconds


def from_epoch_seconds(seconds: int) -> datetime:
    """The UTC time `seconds` after 1970 (before it when negative), for any year datetime holds."""
    return _EPOCH + timedelta(seconds=int(seconds))


def _parse_instant(text: str) -> datetime | None:
    try:
        return _utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        pass
    for fmt in _FORMATS:
        try:
            return _utc(datetime.strptime(text, fmt))
        except ValueError:
            continue
    return None


def _unix(seconds: float) -> datetime | None:
    try:
        return _EPOCH + timedelta(seconds=seconds)
    except (OverflowError, ValueError):
        return None


def _end(start: datetime, granularity: str) -> datetime:
    """The last instant of the day, month or year that begins at `start`."""
    try:
        if granularity == "day":
            following = start + timedelta(days=1)
        elif granularity == "month":
            following = start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
        else:
            following = start.replace(year=start.year + 1)
    except (ValueError, OverflowError):  # the last day, month or year datetime holds
        return datetime.max.replace(tzinfo=UTC)
    return following - timedelta(microseconds=1)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
