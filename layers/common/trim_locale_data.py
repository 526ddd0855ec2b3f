"""Trim Babel's per-locale CLDR data in a built layer to what balance_alerts formats.

    PYTHONPATH=<layer>/python python trim_locale_data.py <layer>/python/babel

Babel ships one pickle per locale (``babel/locale-data/<locale>.dat``, 1,148 of them):
about 10 MiB of the layer zipped. balance_alerts uses only ``Locale.parse``,
``babel.numbers.format_currency`` / ``format_decimal`` / ``is_currency`` (without a
locale) and ``babel.dates.format_date(..., "medium")`` / ``format_time(..., "short")``
(see ``balance_alerts/adapters/rendering.py`` and ``balance_alerts/api/schemas.py``).
This script rewrites every locale file without the keys in ``DROP``, which none of these
read: display names (``languages``, ``territories``, ``scripts``, ``variants``,
``unit_*``, ``compound_unit_patterns``), time zone names (``time_zones``,
``meta_zones``: rendering prints the zone abbreviation from ``zoneinfo``, and no
short time pattern carries a zone), relative and interval date formats, compact
numbers, list patterns, measurement systems and ``character_order``. The currency
names (``EMPTY``) are kept as empty mappings: every ``format_currency`` call looks the
name up (Babel evaluates it for a "¤¤¤" in the pattern before looking for one, and no
standard currency pattern has one), so the keys must exist, but their values are never
printed.

Every locale is kept, with everything the formatting functions read (number symbols
and patterns, currency symbols and formats, date/time patterns, month/day/era names,
day periods and ``day_period_rules``, which "B" in a short time pattern needs), so
every locale a tenant may configure renders exactly as with the full data:
``tests/unit/test_layer_locale_data.py`` checks that for every locale Babel knows.
``babel/global.dat`` (currency digits, likely subtags, parent locales, ...) is not
touched. The locale data shrinks from about 10 MiB to under 1 MiB zipped.

Code that needs what is dropped gets a ``KeyError`` on Lambda while it works in the
tests, which use the full data: ``Locale.display_name`` / ``languages`` /
``territories``, ``format_timedelta``, ``format_interval``, ``format_list``,
``format_compact_*``, ``format_unit``, ``get_timezone_name``, time patterns with a
zone; and with the emptied currency names ``get_currency_name`` returns the code,
``format_currency(..., format_type="name")`` prints it, and
``is_currency(code, locale)`` / ``list_currencies(locale)`` find no currency. Take the
key out of ``DROP`` / ``EMPTY`` then (and extend the test). To ship Babel's data
untouched, build with ``TRIM_LAYER=0 sam build --no-cached`` (a variable of
``layers/common/Makefile``; ``--no-cached`` because samconfig.toml caches the layer's
build by its sources, not by the environment).

The files are unpickled with the Babel package being trimmed (they hold instances of
its classes), so run this with that package first on ``PYTHONPATH``; the script
refuses to run against another Babel. Pure stdlib apart from Babel; it writes each
file atomically and may be run again on trimmed data.
"""

from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path

#: Top-level keys of a locale's data that balance_alerts never reads.
DROP = frozenset({
    "languages", "territories", "scripts", "variants",
    "unit_patterns", "unit_display_names", "compound_unit_patterns",
    "meta_zones", "time_zones",
    "date_fields", "interval_formats", "datetime_formats_relative",
    "compact_decimal_formats", "compact_currency_formats",
    "list_patterns", "measurement_systems", "character_order",
})
#: Top-level keys kept as empty mappings: read on every ``format_currency`` call, but
#: their values only printed by what balance_alerts does not use (see above).
EMPTY = frozenset({"currency_names", "currency_names_plural"})
#: Pickle protocol 5: the highest there is today, and every Python the layer targets
#: (3.12, 3.13; any >= 3.8) reads it. Not pickle.HIGHEST_PROTOCOL, which a newer build
#: Python might raise beyond what the runtime reads.
PROTOCOL = 5


def trim_file(path: Path) -> tuple[int, int]:
    """Rewrite one locale file without the ``DROP`` keys and with the ``EMPTY`` ones
    emptied; (bytes before, bytes after)."""
    before = path.stat().st_size
    with path.open("rb") as handle:
        data = pickle.load(handle)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a Babel locale file (a {type(data).__name__})")
    for key in DROP & data.keys():
        del data[key]
    for key in EMPTY & data.keys():
        data[key] = {}
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("wb") as handle:
        pickle.dump(data, handle, protocol=PROTOCOL)
    os.replace(temporary, path)
    return before, path.stat().st_size


def trim(babel_dir: Path) -> tuple[int, int, int]:
    """Trim every ``locale-data/*.dat`` under a Babel package directory;
    (files, bytes before, bytes after)."""
    files = sorted((babel_dir / "locale-data").glob("*.dat"))
    if not files:
        raise FileNotFoundError(f"no locale-data/*.dat under {babel_dir}")
    before = after = 0
    for path in files:
        size_before, size_after = trim_file(path)
        before += size_before
        after += size_after
    return len(files), before, after


def _check_babel(babel_dir: Path) -> None:
    """The pickles name Babel's classes: unpickle them with this very Babel, not with
    whichever one the build Python happens to have (or none)."""
    try:
        import babel
    except ImportError:
        raise SystemExit(
            f"babel is not importable: run with PYTHONPATH={babel_dir.parent}") from None
    found = Path(babel.__file__).resolve().parent
    if found != babel_dir.resolve():
        raise SystemExit(f"this imports babel from {found}, not {babel_dir}: "
                         f"run with PYTHONPATH={babel_dir.parent}")


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(f"usage: {Path(sys.argv[0]).name} BABEL_PACKAGE_DIR", file=sys.stderr)
        return 2
    babel_dir = Path(argv[0])
    _check_babel(babel_dir)
    files, before, after = trim(babel_dir)
    print(f"trim_locale_data: {files} locale files, {before:,} -> {after:,} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
