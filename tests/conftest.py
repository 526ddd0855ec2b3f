"""Shared fixtures. Table names and the functions' environment come from template.yaml,
so a module that reads them at import finds them, as it would on Lambda."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from local import cfn

for _name, _value in cfn.function_env().items():
    os.environ.setdefault(_name, _value)
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")

EVENTS = Path(__file__).resolve().parent.parent / "events"


def load_event(name: str) -> dict[str, Any]:
    """A sample event from events/ (the same files `sam local invoke -e` uses)."""
    return json.loads((EVENTS / name).read_text())


@pytest.fixture
def aws():
    """The application on moto in-process, tables created from template.yaml."""
    from local.runtime import LocalAws

    with LocalAws(verified_senders=("billing@acme.test", "office@school.test")) as local:
        yield local
