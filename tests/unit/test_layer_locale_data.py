"""The layer's trimmed Babel locale data (layers/common/trim_locale_data.py) renders every
locale exactly as Babel's full data does.

The trim runs on a copy of the venv's Babel package, as the layer's Makefile runs it.
Then two subprocesses, one importing that trimmed copy and one the venv's Babel, format
money, quantities and ``notice.created_at`` for every locale Babel has with the
rendering helpers (``format_money``, ``format_quantity``, ``format_moment``) and
validate with the API's (``_currency``, ``_locale``); the outputs must be identical.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pickle
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "layers" / "common" / "trim_locale_data.py"
CURRENCIES = ("USD", "EUR", "JPY", "CHF", "KWD")  # 2, 0 and 3 decimals
AMOUNTS = ("12.5", "-7.005", "1234.5678", "-1234567.891", "98765432109876543210.123456",
           "-0.0001")
QUANTITIES = ("0", "-2.5", "1234567.125", "12345678901234567890.5")
#: Instants read in zones with odd offsets and DST whose local times fall in different
#: day periods (midnight, morning, noon, afternoon, evening, night), months and years.
MOMENTS = (("2026-01-01T00:00:00+00:00", "UTC"),
           ("2026-03-29T01:30:05+00:00", "Asia/Kolkata"),
           ("2026-07-15T16:00:00+00:00", "America/New_York"),
           ("2026-11-02T15:45:59.123456+00:00", "Europe/Berlin"),
           ("2027-12-31T06:10:00+00:00", "Pacific/Chatham"),
           ("2026-05-10T22:30:00+00:00", "UTC"),
           ("2026-09-01T02:20:00+00:00", "America/Los_Angeles"))

# Run in the subprocesses (python -c): everything the layer's code formats with Babel,
# per locale. An exception is an output too, so a missing key shows as a difference.
_WORKER = f"""
import json, sys
import babel
from babel.localedata import locale_identifiers
from balance_alerts.adapters.rendering import (
    _locale, format_moment, format_money, format_quantity)
from balance_alerts.api.schemas import _currency, _locale as _valid_locale

def attempt(function, *args):
    try:
        return function(*args)
    except Exception as error:
        return f"{{type(error).__name__}}: {{error}}"

out = {{"babel": babel.__file__, "locales": {{}},
        "currencies": [attempt(_currency, c) for c in {CURRENCIES!r}]}}
for name in sorted(locale_identifiers()):
    rows = [attempt(_valid_locale, name), str(_locale(name))]
    rows += [attempt(format_money, a, c, name) for c in {CURRENCIES!r} for a in {AMOUNTS!r}]
    rows += [attempt(format_money, a, None, name) for a in {AMOUNTS!r}]
    rows += [attempt(format_quantity, q, name) for q in {QUANTITIES!r}]
    rows += [attempt(format_moment, m, z, name) for m, z in {MOMENTS!r}]
    out["locales"][name] = rows
json.dump(out, sys.stdout)
"""


def _babel_dir() -> Path:
    import babel

    return Path(babel.__file__).resolve().parent


@pytest.fixture(scope="module")
def trimmed_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding a copy of the venv's Babel with its locale data trimmed by
    the script, run as the Makefile runs it."""
    site = tmp_path_factory.mktemp("site")
    shutil.copytree(_babel_dir(), site / "babel",
                    ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "PYTHONPATH": str(site), "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run([sys.executable, str(SCRIPT), str(site / "babel")], env=env,
                          capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "locale files" in done.stdout, done.stdout
    return site


def _load(path: Path) -> dict[str, Any]:
    with path.open("rb") as handle:
        return pickle.load(handle)


def _plain(value: Any) -> Any:
    """Locale data as comparable values (Babel's pattern classes have no ``__eq__``)."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(item) for item in value)
    if value is None or isinstance(value, (str, int, float, Decimal, frozenset, set)):
        return value
    return type(value).__qualname__, _plain(value.__getstate__())


def test_trim_drops_only_the_listed_keys_and_keeps_every_locale(trimmed_site: Path) -> None:
    spec = importlib.util.spec_from_file_location("trim_locale_data", SCRIPT)
    assert spec is not None and spec.loader is not None
    trim_locale_data = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(trim_locale_data)
    full = sorted(path.name for path in (_babel_dir() / "locale-data").glob("*.dat"))
    trimmed_dir = trimmed_site / "babel" / "locale-data"
    assert sorted(path.name for path in trimmed_dir.glob("*.dat")) == full
    assert len(full) > 1000

    assert {"languages", "time_zones"} <= set(_load(_babel_dir() / "locale-data" / "en.dat"))
    english = _load(trimmed_dir / "en.dat")
    assert "languages" not in english and "time_zones" not in english
    assert "currency_formats" in english and "day_period_rules" in english
    assert english["currency_names"] == {}
    for name in ("en.dat", "de.dat", "ar.dat", "root.dat", "zh_Hant.dat", "sr_Latn_BA.dat"):
        before = _load(_babel_dir() / "locale-data" / name)
        after = _load(trimmed_dir / name)
        assert set(after) == set(before) - trim_locale_data.DROP, name
        for key, value in after.items():
            if key in trim_locale_data.EMPTY:
                assert value == {}, (name, key)
            else:
                assert _plain(value) == _plain(before[key]), (name, key)
    # global.dat is copied as it is
    assert ((trimmed_site / "babel" / "global.dat").read_bytes()
            == (_babel_dir() / "global.dat").read_bytes())
    trimmed = sum(path.stat().st_size for path in trimmed_dir.glob("*.dat"))
    untrimmed = sum(path.stat().st_size for path in (_babel_dir() / "locale-data").glob("*.dat"))
    assert trimmed < untrimmed / 10


def _worker(babel_site: Path | None) -> subprocess.Popen[str]:
    paths = [str(ROOT), str(ROOT / "layers" / "common")]
    if babel_site is not None:
        paths.insert(0, str(babel_site))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths),
           "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.Popen([sys.executable, "-c", _WORKER], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _result(process: subprocess.Popen[str]) -> dict[str, Any]:
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr[-3000:]
    return json.loads(stdout)


def test_every_locale_renders_the_same_with_trimmed_data(trimmed_site: Path) -> None:
    trimmed_process = _worker(trimmed_site)
    full_process = _worker(None)
    trimmed, full = _result(trimmed_process), _result(full_process)

    # each side used the Babel it was meant to
    assert Path(trimmed["babel"]).resolve().is_relative_to(trimmed_site.resolve())
    assert Path(full["babel"]).resolve().parent == _babel_dir()
    from babel.localedata import locale_identifiers

    assert sorted(full["locales"]) == sorted(locale_identifiers())
    assert sorted(trimmed["locales"]) == sorted(full["locales"])
    assert trimmed["currencies"] == full["currencies"] == list(CURRENCIES)
    # the full data formats without errors, so "the same" is not "failing the same way"
    errors = [(name, row) for name, rows in full["locales"].items() for row in rows
              if isinstance(row, str) and "Error:" in row]
    assert not errors, errors[:5]
    assert full["locales"]["de_DE"][1] == "de_DE"
    assert full["locales"]["de_DE"][2] == "12,50\xa0$"

    different = {name: [(f, t) for f, t in zip(rows, trimmed["locales"][name], strict=True) if f != t]
                 for name, rows in full["locales"].items()
                 if rows != trimmed["locales"][name]}
    assert not different, dict(list(different.items())[:5])
