"""The functions' settings: every environment variable the code reads, read and validated
once, at cold start, into one typed object.

``settings()`` loads them on first use and keeps them for the container. Each handler
(``functions/*/app.py``) calls it at import, so a missing or malformed variable fails the
cold start with a ``ConfigurationError`` that names it, before any event is taken; a
setting only one function needs (``CURSOR_SECRET``, ApiFunction's) is asked for with
``required`` there. ``reset_cache`` forgets them: the local runtime calls it to simulate
a cold start. No other module reads these variables.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import cache
from typing import Any
from urllib.parse import urlsplit

DEFAULT_REGION = "us-east-1"
DEFAULT_WATCH_SHARDS = 8
MAX_WATCH_SHARDS = 64  # the template's WatchShards MaxValue
DEFAULT_EVENT_BUS = "default"

_TRUE = frozenset({"true", "yes", "1", "on"})
_FALSE = frozenset({"false", "no", "0", "off"})
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
_TABLE = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")  # DynamoDB's table name rule
_EVENT_BUS = re.compile(
    r"^(arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:event-bus/)?[A-Za-z0-9/._-]{1,256}$")
_CONFIGURATION_SET = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # SES's rule


class ConfigurationError(RuntimeError):
    """A setting is missing or malformed: the function cannot start."""


def _variable(name: str, needed_by: str) -> dict[str, str]:
    return {"variable": name, "needed_by": needed_by}


@dataclass(frozen=True)
class Settings:
    """What the functions are configured with; each field names its variable."""

    region: str = field(metadata=_variable("AWS_REGION", "every function"))
    ledger_table: str = field(metadata=_variable("LEDGER_TABLE", "every function"))
    accounts_table: str = field(metadata=_variable("ACCOUNTS_TABLE", "every function"))
    notices_table: str = field(metadata=_variable("NOTICES_TABLE", "every function"))
    config_table: str = field(metadata=_variable("CONFIG_TABLE", "every function"))
    dynamodb_endpoint: str | None = field(
        metadata=_variable("AWS_ENDPOINT_URL_DYNAMODB", "local runs"))
    watch_shards: int = field(
        metadata=_variable("WATCH_SHARDS", "OnUsageFunction, PeriodicScanFunction, ApiFunction"))
    event_bus_name: str = field(metadata=_variable("EVENT_BUS_NAME", "SendNoticeFunction"))
    ses_configuration_set: str | None = field(
        metadata=_variable("SES_CONFIGURATION_SET", "SendNoticeFunction"))
    ses_check_suppression: bool = field(
        metadata=_variable("SES_CHECK_SUPPRESSION", "SendNoticeFunction"))
    cursor_secret: str | None = field(
        default=None, repr=False, metadata=_variable("CURSOR_SECRET", "ApiFunction"))

    def required(self, name: str) -> Any:
        """The value of the optional setting ``name``, which the caller cannot do without;
        ConfigurationError naming its variable when it is not set."""
        value = getattr(self, name)
        if value is None or value == "":
            spec = next(f for f in fields(self) if f.name == name)
            raise ConfigurationError(
                f"environment variable {spec.metadata['variable']} is not set; "
                f"{spec.metadata['needed_by']} needs it (the SAM template sets it)")
        return value


def variables() -> dict[str, str]:
    """Settings field -> the environment variable it is read from."""
    return {spec.name: spec.metadata["variable"] for spec in fields(Settings)}


# ------------------------------------------------------------------ readers
class _Reader:
    """Reads variables from one environment, collecting every problem."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.problems: list[str] = []

    def raw(self, name: str) -> str | None:
        value = self.environ.get(name)
        return value if value is not None and value.strip() else None

    def text(self, name: str, *, default: str | None = None,
             pattern: re.Pattern[str] | None = None, what: str = "") -> str | None:
        value = self.raw(name)
        if value is None:
            return default
        value = value.strip()
        if pattern is not None and not pattern.match(value):
            self.problems.append(f"{name}={value[:80]!r} is not {what}")
            return default
        return value

    def table(self, name: str) -> str:
        value = self.text(name, pattern=_TABLE, what="a DynamoDB table name")
        if value is None and self.raw(name) is None:
            self.problems.append(f"{name} is not set; the SAM template sets it with !Ref")
        return value or ""

    def integer(self, name: str, *, default: int, low: int, high: int) -> int:
        value = self.raw(name)
        if value is None:
            return default
        try:
            number = int(value.strip())
        except ValueError:
            number = None
        if number is None or not low <= number <= high:
            self.problems.append(
                f"{name}={value.strip()[:80]!r} is not a whole number from {low} to {high}")
            return default
        return number

    def flag(self, name: str, *, default: bool) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        word = value.strip().lower()
        if word not in _TRUE | _FALSE:
            self.problems.append(f"{name}={value.strip()[:80]!r} is not true or false")
            return default
        return word in _TRUE

    def url(self, *names: str) -> str | None:
        for name in names:
            value = self.raw(name)
            if value is None:
                continue
            parts = urlsplit(value.strip())
            if parts.scheme not in ("http", "https") or not parts.netloc:
                self.problems.append(f"{name}={value.strip()[:80]!r} is not an http(s) URL")
                return None
            return value.strip()
        return None

    def secret(self, name: str) -> str | None:
        return self.raw(name)  # never echoed in a message


def load(environ: Mapping[str, str]) -> Settings:
    """The settings in ``environ``. ConfigurationError names every variable that is
    missing or malformed."""
    read = _Reader(environ)
    region_variable = "AWS_REGION" if read.raw("AWS_REGION") else "AWS_DEFAULT_REGION"
    loaded = Settings(
        region=read.text(region_variable, default=DEFAULT_REGION, pattern=_REGION,
                         what="an AWS region") or DEFAULT_REGION,
        ledger_table=read.table("LEDGER_TABLE"),
        accounts_table=read.table("ACCOUNTS_TABLE"),
        notices_table=read.table("NOTICES_TABLE"),
        config_table=read.table("CONFIG_TABLE"),
        dynamodb_endpoint=read.url("AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL"),
        watch_shards=read.integer("WATCH_SHARDS", default=DEFAULT_WATCH_SHARDS,
                                  low=1, high=MAX_WATCH_SHARDS),
        event_bus_name=read.text("EVENT_BUS_NAME", default=DEFAULT_EVENT_BUS,
                                 pattern=_EVENT_BUS, what="an event bus name or ARN")
        or DEFAULT_EVENT_BUS,
        ses_configuration_set=read.text("SES_CONFIGURATION_SET", pattern=_CONFIGURATION_SET,
                                        what="an SES configuration set name"),
        ses_check_suppression=read.flag("SES_CHECK_SUPPRESSION", default=True),
        cursor_secret=read.secret("CURSOR_SECRET"),
    )
    if read.problems:
        raise ConfigurationError("invalid configuration: " + "; ".join(read.problems))
    return loaded


@cache
def settings() -> Settings:
    """This container's settings, loaded from the environment on first use."""
    return load(os.environ)


def reset_cache() -> None:
    """Forget the settings, so that the next use reads the environment again (a cold
    start)."""
    settings.cache_clear()
