"""Shared fixtures. Table names and the functions' environment come from template.yaml,
so a module that reads them at import finds them, as it would on Lambda."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import moto.core.models  # noqa: F401 - registers moto's botocore hook; see below
import pytest

from local import cfn

# A product module that creates its boto3 clients at import (adapters/delivery.py, as a
# Lambda handler should) may be imported by a test module at collection, before any
# LocalAws runs. Its clients keep what they found then: moto's botocore hook only if
# moto was imported first, credentials only if the environment had some. So: moto
# first, and fake credentials, before any test module, whatever the test order.
for _name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
    os.environ.setdefault(_name, "testing")
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
