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

# The botocore session the product's clients share (adapters/session.py) keeps what it
# found when it was made: moto's botocore hook only if moto was imported first,
# credentials only if the environment had some. A test module may make it at collection,
# before any LocalAws runs. So: moto first, and fake credentials, before any test module,
# whatever the test order.
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


@pytest.fixture
def ses_calls(aws, monkeypatch) -> list[dict[str, Any]]:
    """Every SendEmail request the product makes (moto keeps only the HTML body and no
    headers)."""
    from balance_alerts.adapters.channels import email

    calls: list[dict[str, Any]] = []
    original = email.client().send_email

    def spy(**request: Any) -> Any:
        calls.append(request)
        return original(**request)

    monkeypatch.setattr(email.client(), "send_email", spy)
    return calls
