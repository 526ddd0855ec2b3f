"""What each function loads at cold start, in a fresh interpreter that sees what Lambda's
does (the layer, its pinned dependencies, the runtime's boto3/botocore; see
benchmarks/cold_start.py). Heavy packages a function's init does not need stay out: the
cold start ratios in docs/performance.md depend on it, and a stray import would bring
them back without any test failing otherwise."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from benchmarks import cold_start

HEAVY = ("boto3", "asyncio", "jinja2", "babel", "pydantic", "aws_xray_sdk",
         "aws_lambda_powertools.utilities.batch", "aws_lambda_powertools.utilities.data_classes")
PROBE = ("import app, json, sys; "
         f"print(json.dumps([name for name in {HEAVY!r} if name in sys.modules]))")


@pytest.fixture(scope="module")
def paths():
    return cold_start.lambda_path()


def _loaded(function: str, paths, code: str = PROBE):
    """What ``code`` prints last (JSON), run as ``function``'s Lambda process would be."""
    done = subprocess.run(
        [sys.executable, "-S", "-c", code], cwd=cold_start.ROOT / "functions" / function,
        env=cold_start._environment(function, paths), capture_output=True, text=True,
        timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("function", ["on_usage", "periodic_scan", "send_notice"])
def test_stream_and_scan_functions_load_nothing_heavy_at_init(function, paths):
    assert _loaded(function, paths) == []


def test_the_api_loads_what_validation_needs_but_not_the_renderer_or_boto3(paths):
    # pydantic, asyncio and the event data classes come with Powertools' event handler
    # and its validation, which every request uses; Jinja2 and Babel only with /templates.
    assert _loaded("api", paths) == ["asyncio", "pydantic",
                                     "aws_lambda_powertools.utilities.data_classes"]


def test_send_notice_loads_jinja2_and_babel_with_its_first_render(paths):
    code = ("import app; from balance_alerts.adapters import preview, template_store; "
            "template_store.render('balance_low', 'customer', "
            "preview.sample_variables('balance_low')); " + PROBE)
    assert _loaded("send_notice", paths, code) == ["jinja2", "babel"]


def test_only_the_api_has_pydantic_on_its_path(paths):
    # ApiLayer (layers/api, pydantic) is ApiFunction's only, as in template.yaml.
    code = ("import importlib.util, json; "
            "print(json.dumps(importlib.util.find_spec('pydantic') is not None))")
    found = {name: _loaded(name, paths, code) for name in cold_start.FUNCTIONS}
    assert found == {"on_usage": False, "periodic_scan": False, "send_notice": False,
                     "api": True}


@pytest.mark.parametrize("function", ["on_usage", "send_notice"])
def test_every_client_of_a_first_invocation_comes_from_one_botocore_session(function, paths):
    # pynamodb alone makes a session per table connection, each loading botocore's
    # endpoint and service data again (see balance_alerts/adapters/session.py).
    setup = cold_start.FIRST_USE[function][1]
    code = (f"import app, gc, botocore.session; {setup}; "
            "print(sum(isinstance(o, botocore.session.Session) for o in gc.get_objects()))")
    assert _loaded(function, paths, code) == 1
