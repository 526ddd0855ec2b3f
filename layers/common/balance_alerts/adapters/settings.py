"""Environment, read and validated once at cold start."""

from __future__ import annotations

import os


class ConfigurationError(RuntimeError):
    """A required environment variable is missing: the function cannot start."""


def require_env(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise ConfigurationError(
            f"environment variable {name} is not set; the SAM template sets it with !Ref"
        )
    return value


def region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def watch_shards() -> int:
    return max(1, int(os.environ.get("WATCH_SHARDS", "8")))
