"""A number cell of a workbook as Excel shows it by its number format (`core.memory._xlsx`): a date, a time of day,
a date and time, a duration or a percentage. Other numbers are shown as stored (``1234.5``, not a currency
format's ``$1,234.50``).

Excel stores a date as a number of days since its epoch and a time as the day's fraction. A time was shown
cut to the second below (14:30 is stored as 45458.604166666664: it showed 14:29:59), a date-only format gave a
time too, a time-only cell a date (``1899-12-30 14:30:00``), and a date before March 1900 a day early (Excel
counts a 29 February 1900 that never was). Dates are shown as ISO dates (``2024-05-01``) and times on a 24-hour
clock (``14:30``), whatever the format's order of day and month.
"""
from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

# Excel's built-in formats of dates, times and percentages (ECMA-376 18.8.30), read as their codes
BUILTIN = {9: "0%", 10: "0.00%", 14: "yyyy-mm-dd", 15: "d-mmm-yy", 16: "d-mmm", 17: "mmm-yy", 18: "h:mm AM/PM",
           19: "h:mm:ss AM/PM", 20: "h:mm", 21: "h:mm:ss", 22: "yyyy-mm-dd h:mm", 45: "mm:ss", 46: "[h]:mm:ss",
           47: "mm:ss.0"}
_LITERAL = re.compile(r'"[^"]*"|\\.|[_*].')  # quoted text, an escaped character, a padding: no format letters
_BRACKET = re.compile(r"\[[^\]]*\]")  # a colour, a condition, a locale ([$-409]); [h] is an elapsed time
_LAST_DAY = 2958465  # 9999-12-31: a larger number is no date Excel shows


@dataclass(frozen=True)
class Shown:
    """How a number format shows a number: ``kind`` "date", "time", "datetime", "elapsed" or "percent"."""

    kind: str
    seconds: bool = False  # the time shows its seconds
    hours: bool = True  # and its hours (``mm:ss`` does not)
    decimals: int = 0  # of the seconds (``ss.0``) or of the percentage (``0.0%``)


def shown_as(code: str) -> Shown | None:
    """How a format code shows its numbers; None for a plain number (General, ``0.00``, a currency)."""
    plain = _LITERAL.sub("", code.split(";")[0])  # the first section: positive numbers
    elapsed = re.search(r"\[h+\]", plain, re.I) is not None
    plain = re.sub(r"am/pm|a/p", "", _BRACKET.sub("", plain), flags=re.I).lower()
    fraction = re.search(r"\.([0#?]+)", plain)
    decimals = len(fraction.group(1)) if fraction else 0
    has_time = elapsed or re.search(r"[hs]", plain) is not None
    has_date = re.search(r"[dy]", plain) is not None or ("m" in plain and not has_time)  # m: a month, else minutes
    if has_date or has_time:
        kind = "elapsed" if elapsed else "datetime" if has_date and has_time else "date" if has_date else "time"
        return Shown(kind, seconds="s" in plain, hours=elapsed or "h" in plain, decimals=min(decimals, 3))
    return Shown("percent", decimals=decimals) if "%" in plain else None


def show(raw: str, how: Shown, date1904: bool) -> str:
    """The cell's stored number ``raw`` as ``how`` shows it; ``raw`` itself when it is no such number."""
    try:
        if how.kind == "percent":
            return _percent(raw, how.decimals)
        return _when(float(raw), how, date1904) or raw
    except (ValueError, InvalidOperation, OverflowError):
        return raw


def _percent(raw: str, decimals: int) -> str:
    """``0.125`` under ``0%``: ``13%``, rounded half away from zero as Excel rounds (Python's float formatting
    gives ``12%``)."""
    value = (Decimal(raw) * 100).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
    return f"{value}%"


def _when(days: float, how: Shown, date1904: bool) -> str | None:
    """A number of days as a date, a time or both; None past the year 9999 or below 0 (Excel shows ``####``),
    but for a date of the 1904 system (one written there before 1904: LibreOffice shows it)."""
    if days > _LAST_DAY or days < 0 and not (date1904 and how.kind in ("date", "datetime")):
        return None
    step = 10 ** (3 - how.decimals)  # rounded to the seconds the format shows (or their tenths...), then cut
    ms = round(days * 86_400_000 / step) * step
    whole, ms = divmod(ms, 86_400_000)
    if how.kind == "elapsed":
        return _clock(whole * 86_400_000 + ms, how)
    if how.kind == "time":
        return _clock(ms, how)
    day = _day(whole, date1904)
    return day if how.kind == "date" else f"{day} {_clock(ms, how)}"


def _clock(ms: int, how: Shown) -> str:
    """``14:30``, ``14:30:05``, ``14:30:05.2`` or ``30:05`` (hours past 24 for an elapsed time: ``36:15``)."""
    seconds, ms = divmod(ms, 1000)
    text = f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}" if how.hours else f"{seconds // 60 % 60:02d}"
    if how.seconds or not how.hours:
        text += f":{seconds % 60:02d}" + (f".{ms:03d}"[:how.decimals + 1] if how.decimals else "")
    return text


def _day(whole: int, date1904: bool) -> str:
    """The ISO date of day number ``whole``: Excel's 1900 system counts a 29 February 1900 (day 60), so the days
    before it are one later than their count from 1899-12-30 (day 1 is 1900-01-01), and day 0 is its
    1900-01-00."""
    if date1904:
        return (datetime.date(1904, 1, 1) + datetime.timedelta(days=whole)).isoformat()
    if whole in (0, 60):
        return "1900-01-00" if whole == 0 else "1900-02-29"
    start = datetime.date(1899, 12, 31) if whole < 60 else datetime.date(1899, 12, 30)
    return (start + datetime.timedelta(days=whole)).isoformat()
