"""Each function reads and checks its settings at cold start: importing its handler module
with a missing or malformed variable fails, naming the variable, before any event. Each
import runs in a fresh interpreter, so no module cached by this one hides it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from local import cfn

FUNCTIONS = ("api", "on_usage", "periodic_scan", "send_notice")


def cold_start(function: str, **changes: str | None) -> subprocess.CompletedProcess[str]:
    """``import functions.<function>.app`` in a new interpreter, with the environment the
    local runtime gives the functions, changed by ``changes`` (None removes a variable)."""
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("AWS_", "POWERTOOLS_", "PYTHON"))
           and name not in cfn.function_env()}
    env.update(cfn.function_env())
    env.update({
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "PYTHONPATH": os.pathsep.join([str(cfn.ROOT), str(cfn.ROOT / "layers" / "common")]),
        "PYTHONDONTWRITEBYTECODE": "1",
    })
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return subprocess.run([sys.executable, "-c", f"import functions.{function}.app"],
                          cwd=cfn.ROOT, env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def failed_naming(done: subprocess.CompletedProcess[str], variable: str) -> bool:
    last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
    return (done.returncode != 0 and last.startswith(
        "balance_alerts.adapters.settings.ConfigurationError") and variable in last)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_function_starts_with_the_environment_the_template_gives_it(function):
    done = cold_start(function)
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_api_does_not_start_without_its_cursor_secret():
    # Given ApiFunction's environment without CURSOR_SECRET
    # When its handler module is imported (the cold start)
    done = cold_start("api", CURSOR_SECRET=None)
    # Then it fails, naming the variable - there is no key to fall back on
    assert failed_naming(done, "CURSOR_SECRET"), done.stderr[-2000:]


@pytest.mark.parametrize("function", ["on_usage", "periodic_scan", "send_notice"])
def test_only_the_api_needs_the_cursor_secret(function):
    done = cold_start(function, CURSOR_SECRET=None)
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.parametrize("function, variable, value", [
    ("on_usage", "LEDGER_TABLE", None),
    ("send_notice", "NOTICES_TABLE", ""),
    ("periodic_scan", "WATCH_SHARDS", "abc"),
    ("on_usage", "WATCH_SHARDS", "0"),
    ("send_notice", "SES_CHECK_SUPPRESSION", "maybe"),
    ("api", "CONFIG_TABLE", None),
])
def test_a_missing_or_malformed_variable_fails_the_cold_start_naming_it(function, variable,
                                                                        value):
    done = cold_start(function, **{variable: value})
    assert failed_naming(done, variable), done.stderr[-2000:]
