"""The functions' settings: read from the environment once, validated, typed; a missing or
malformed variable is named. (That each handler fails its cold start on one:
tests/integration/test_cold_start_settings.py.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from balance_alerts.adapters import settings
from balance_alerts.adapters.settings import ConfigurationError, Settings, load
from balance_alerts.api import cursors
from balance_alerts.api.errors import BadRequest
from local import cfn

ROOT = Path(__file__).resolve().parents[2]
TABLES = ("LEDGER_TABLE", "ACCOUNTS_TABLE", "NOTICES_TABLE", "CONFIG_TABLE")


def environment(**changes: str | None) -> dict[str, str]:
    """A deployed function's environment (as the template sets it), with ``changes``
    (None removes a variable)."""
    env = {
        "AWS_REGION": "eu-west-1",
        "LEDGER_TABLE": "stack-LedgerTable-1A2B",
        "ACCOUNTS_TABLE": "stack-AccountsTable-1A2B",
        "NOTICES_TABLE": "stack-NoticesTable-1A2B",
        "CONFIG_TABLE": "stack-ConfigTable-1A2B",
        "WATCH_SHARDS": "8",
    }
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


@pytest.fixture
def fresh_settings(monkeypatch):
    """settings() as a new container reads them; forgotten again afterwards."""
    settings.reset_cache()
    yield monkeypatch
    settings.reset_cache()


# ------------------------------------------------------------------- loading
def test_a_deployed_environment_loads_into_one_typed_object():
    # Given the environment the template gives SendNoticeFunction
    env = environment(EVENT_BUS_NAME="default", SES_CONFIGURATION_SET="alerts",
                      SES_CHECK_SUPPRESSION="off")

    # When it is loaded
    loaded = load(env)

    # Then every setting is there, typed
    assert loaded == Settings(
        region="eu-west-1",
        ledger_table="stack-LedgerTable-1A2B",
        accounts_table="stack-AccountsTable-1A2B",
        notices_table="stack-NoticesTable-1A2B",
        config_table="stack-ConfigTable-1A2B",
        dynamodb_endpoint=None,
        watch_shards=8,
        event_bus_name="default",
        ses_configuration_set="alerts",
        ses_check_suppression=False,
        cursor_secret=None,
    )
    with pytest.raises(AttributeError):
        loaded.watch_shards = 2  # type: ignore[misc]  # frozen


def test_optional_settings_have_their_documented_defaults():
    loaded = load(environment(AWS_REGION=None, WATCH_SHARDS=None))
    assert loaded.region == "us-east-1"
    assert loaded.watch_shards == 8
    assert loaded.event_bus_name == "default"
    assert loaded.ses_configuration_set is None
    assert loaded.ses_check_suppression is True
    assert loaded.dynamodb_endpoint is None
    assert loaded.cursor_secret is None
    # And the template's empty SesConfigurationSet means none
    assert load(environment(SES_CONFIGURATION_SET="")).ses_configuration_set is None
    # And AWS_DEFAULT_REGION stands in for AWS_REGION; a DynamoDB endpoint for local runs
    assert load(environment(AWS_REGION=None, AWS_DEFAULT_REGION="ap-southeast-2")).region == (
        "ap-southeast-2")
    assert load(environment(AWS_ENDPOINT_URL="http://127.0.0.1:5000")).dynamodb_endpoint == (
        "http://127.0.0.1:5000")


@pytest.mark.parametrize("name", TABLES)
@pytest.mark.parametrize("value", [None, "", "   "])
def test_a_missing_table_variable_is_named(name, value):
    with pytest.raises(ConfigurationError, match=rf"\b{name} is not set"):
        load(environment(**{name: value}))


@pytest.mark.parametrize("value", ["abc", "0", "-1", "65", "1.5", "8 shards"])
def test_a_malformed_watch_shards_is_named(value):
    with pytest.raises(ConfigurationError, match=rf"WATCH_SHARDS={re.escape(repr(value))} is "
                                                 "not a whole number from 1 to 64"):
        load(environment(WATCH_SHARDS=value))


@pytest.mark.parametrize("name, value", [
    ("LEDGER_TABLE", "ledger table"),
    ("AWS_REGION", "mars"),
    ("AWS_ENDPOINT_URL", "localhost:8000"),
    ("AWS_ENDPOINT_URL_DYNAMODB", "ftp://127.0.0.1"),
    ("EVENT_BUS_NAME", "my bus"),
    ("SES_CONFIGURATION_SET", "alerts!"),
    ("SES_CHECK_SUPPRESSION", "maybe"),
])
def test_a_malformed_value_is_named(name, value):
    with pytest.raises(ConfigurationError, match=rf"\b{name}="):
        load(environment(**{name: value}))


def test_every_problem_is_named_at_once():
    with pytest.raises(ConfigurationError) as raised:
        load(environment(LEDGER_TABLE=None, CONFIG_TABLE=None, WATCH_SHARDS="abc"))
    message = str(raised.value)
    assert all(name in message for name in ("LEDGER_TABLE", "CONFIG_TABLE", "WATCH_SHARDS"))
    assert "ACCOUNTS_TABLE" not in message


# ------------------------------------------------------------ cursor secret
def test_only_the_api_needs_the_cursor_secret_and_it_is_never_shown():
    # Given an environment without CURSOR_SECRET: the stream and scan functions start
    loaded = load(environment())
    # But what the API asks for is named as missing
    with pytest.raises(ConfigurationError, match="CURSOR_SECRET is not set; ApiFunction"):
        loaded.required("cursor_secret")
    with pytest.raises(ConfigurationError, match="CURSOR_SECRET"):
        load(environment(CURSOR_SECRET="  ")).required("cursor_secret")
    # And with it, the API has its key, which no repr shows
    secret = load(environment(CURSOR_SECRET="k" * 64))
    assert secret.required("cursor_secret") == "k" * 64
    assert "k" * 64 not in repr(secret)


def test_without_a_cursor_secret_no_cursor_is_signed_or_accepted(fresh_settings):
    # Given a cursor signed under one secret
    fresh_settings.setenv("CURSOR_SECRET", "first-secret")
    settings.reset_cache()
    cursor = cursors.encode_cursor(tenant_id="t1", list_name="entries", scope="a1",
                                   position={"entry_id": "e1"})
    # When the secret is gone, there is no key to fall back on
    fresh_settings.delenv("CURSOR_SECRET")
    settings.reset_cache()
    with pytest.raises(ConfigurationError, match="CURSOR_SECRET"):
        cursors.encode_cursor(tenant_id="t1", list_name="entries", scope="a1",
                              position={"entry_id": "e1"})
    with pytest.raises(ConfigurationError, match="CURSOR_SECRET"):
        cursors.decode_cursor(cursor, tenant_id="t1", list_name="entries", scope="a1",
                              fields=("entry_id",))
    # And under another secret the cursor is refused; under its own it is read
    fresh_settings.setenv("CURSOR_SECRET", "second-secret")
    settings.reset_cache()
    with pytest.raises(BadRequest):
        cursors.decode_cursor(cursor, tenant_id="t1", list_name="entries", scope="a1",
                              fields=("entry_id",))
    fresh_settings.setenv("CURSOR_SECRET", "first-secret")
    settings.reset_cache()
    assert cursors.decode_cursor(cursor, tenant_id="t1", list_name="entries", scope="a1",
                                 fields=("entry_id",)) == {"entry_id": "e1"}


def test_the_local_cursor_secret_lives_in_the_local_runtime_only():
    # The local runtime, tests and benchmarks sign with their own key ...
    assert cfn.function_env()["CURSOR_SECRET"] == cfn.LOCAL_CURSOR_SECRET
    # ... which no file of the layer (what is deployed) contains
    layer = ROOT / "layers" / "common" / "balance_alerts"
    carrying = [path for path in layer.rglob("*.py")
                if cfn.LOCAL_CURSOR_SECRET in path.read_text()]
    assert carrying == []


# --------------------------------------------------------------- the cache
def test_settings_are_read_once_per_container(fresh_settings):
    # Given a container that has read its settings
    fresh_settings.setenv("WATCH_SHARDS", "3")
    first = settings.settings()

    # When the environment changes, the warm container keeps what it read
    fresh_settings.setenv("WATCH_SHARDS", "5")
    assert settings.settings() is first and first.watch_shards == 3

    # And a cold start (reset_cache) reads it again
    settings.reset_cache()
    assert settings.settings().watch_shards == 5


# ---------------------------------------------------------------- the docs
def test_every_variable_the_template_sets_is_a_setting():
    template = cfn.template()
    given = set(template["Globals"]["Function"]["Environment"]["Variables"])
    for function in cfn.resources("AWS::Serverless::Function").values():
        given |= set(function["Properties"].get("Environment", {}).get("Variables", {}))
    ours = {name for name in given if not name.startswith("POWERTOOLS_")}
    assert ours <= set(settings.variables().values())
    api = template["Resources"]["ApiFunction"]["Properties"]["Environment"]["Variables"]
    assert "CURSOR_SECRET" in api


def test_the_readme_documents_every_setting():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([A-Z_]+)`", section, flags=re.MULTILINE))
    assert set(settings.variables().values()) <= documented
