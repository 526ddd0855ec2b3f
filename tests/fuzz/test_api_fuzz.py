"""Property-based fuzzing of the API with schemathesis, against the OpenAPI document the
code generates (the one committed as docs/openapi.json), in-process: every generated
request becomes an API Gateway proxy event for ApiFunction on moto.

Every phase runs: the document's examples, coverage (boundary values, each constraint
broken in turn, missing fields, wrong types, methods the path does not take) and random
fuzzing. Each case is sent with the identity of each role of one tenant that may make
it - admin, staff, a customer whose own account is ``acct-1`` (``FUZZ_ALL_ROLES``: every
role, refused ones too) - and every response must hold: no 5xx, a documented status
code and content type, a body that matches its documented schema, schema-violating
input refused with a 4xx, a request without a token refused with 401.

``make test`` runs 5 random examples per operation (``FUZZ_EXAMPLES``), the same ones
every run; ``make fuzz`` runs 300 as every role, new ones each run (the failure report
prints the seed and a curl line to reproduce), and writes counts to out/fuzz.json.
"""

from __future__ import annotations

import collections
import json
import os
import re
import time
from collections.abc import Mapping
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from balance_alerts.api.auth import authorize, identity_from_claims
from balance_alerts.api.errors import ApiError
from balance_alerts.api.openapi import document
from balance_alerts.api.schemas import ID_PATTERN
from functions.api.app import app as resolver
from functions.api.app import lambda_handler
from local.runtime import LambdaContext
from local.wsgi import api_wsgi_app

TENANT = "fuzz"
OWN_ACCOUNT = "acct-1"
IDENTITIES = {
    "admin": {"custom:tenant_id": TENANT, "custom:role": "admin", "sub": "fuzz-admin"},
    "staff": {"custom:tenant_id": TENANT, "custom:role": "staff", "sub": "fuzz-staff"},
    "customer": {"custom:tenant_id": TENANT, "custom:role": "customer",
                 "custom:account_id": OWN_ACCOUNT, "sub": "fuzz-customer"},
}
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "5"))
ALL_ROLES = bool(os.environ.get("FUZZ_ALL_ROLES"))
PHASES = os.environ.get("FUZZ_PHASES", "examples,coverage,fuzzing").split(",")
SEEDED_IDS = {"account_id": OWN_ACCOUNT, "profile_id": "standard", "class_id": "retail"}

# Schema-valid input can still be refused (422): the document cannot express the rules
# that need a registry (ISO 4217 codes, IANA time zones, locales) or that tie fields
# together (a charge takes service and quantity together, voids belongs to a void...).
# tests/integration/test_api_inputs.py covers those refusals one by one.
EXCLUDED = [schemathesis.checks.positive_data_acceptance]


def claims_for(headers: Mapping[str, str]) -> dict[str, str] | None:
    """The token is the role's name (what the Cognito authorizer would have checked)."""
    return IDENTITIES.get(headers.get("Authorization", ""))


STATS: collections.Counter = collections.Counter()


def invoke(event):
    response = lambda_handler(event, LambdaContext(function_name="ApiFunction"))
    STATS[(event["httpMethod"], int(response["statusCode"]))] += 1
    return response


wsgi_app = api_wsgi_app(invoke, claims_for)
schema = schemathesis.openapi.from_dict(document(resolver))
schema.app = wsgi_app
schema.config.update(base_url="http://localhost")  # the handler sees paths without the stage
schema.config.phases.update(phases=PHASES)


@schema.hook
def flatmap_path_parameters(context, path_parameters):
    """Half of the cases use the ids that exist (the customer's own account among them),
    so the fuzzer reaches past the 404s into the routes' own code."""
    if not path_parameters or not all(
        isinstance(value, str) and re.fullmatch(ID_PATTERN, value)
        for value in path_parameters.values()
    ):  # a negative case keeps its invalid ids
        return st.just(path_parameters)
    known = dict(path_parameters)
    known.update({name: value for name, value in SEEDED_IDS.items() if name in known})
    return st.sampled_from([path_parameters, known])


@pytest.fixture(scope="module", autouse=True)
def local_aws():
    """One moto for the whole run (a fresh one per example would be far too slow), with
    the tenant's settings, a profile, a class, the customer's account and an entry."""
    from local.runtime import LocalAws

    with LocalAws() as aws:
        for method, path, body in [
            ("PUT", "/settings", {"name": "Fuzz Co", "default_profile_id": "standard"}),
            ("PUT", "/profiles/standard", {"name": "Standard", "rules": [
                {"id": "low", "type": "balance_below", "threshold": "20.00"}]}),
            ("PUT", "/classes/retail", {"name": "Retail"}),
            ("PUT", f"/accounts/{OWN_ACCOUNT}", {"name": "Ana", "email": "ana@example.test"}),
            ("POST", f"/accounts/{OWN_ACCOUNT}/entries",
             {"entry_id": "top-1", "kind": "credit", "amount": "50.00"}),
        ]:
            response = aws.api(method, path, body=body, tenant=TENANT)
            assert response.status < 300, response.body
        aws.pump()
        STATS.clear()
        started = time.monotonic()
        yield aws
        if os.environ.get("FUZZ_STATS"):  # make fuzz: out/fuzz.json
            path = Path(os.environ["FUZZ_STATS"])
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({
                "examples_per_operation": EXAMPLES, "phases": PHASES, "all_roles": ALL_ROLES,
                "requests": sum(STATS.values()), "seconds": round(time.monotonic() - started),
                "by_method_and_status": {f"{m} {s}": n for (m, s), n in sorted(STATS.items())},
            }, indent=2) + "\n")


def roles_for(case) -> list[str | None]:
    """The roles to send ``case`` as: those that may make the request (the role matrix
    test covers the refusals), or every role with FUZZ_ALL_ROLES; ``None`` (no token)
    for a case the fuzzer made without the Authorization header, which must be a 401."""
    if "Authorization" not in case.headers:
        return [None]
    if ALL_ROLES:
        return list(IDENTITIES)
    allowed = []
    for role, claims in IDENTITIES.items():
        try:
            authorize(identity_from_claims(claims), case.method, case.formatted_path)
        except ApiError:
            continue
        allowed.append(role)
    return allowed


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=not ALL_ROLES, database=None,
          suppress_health_check=list(HealthCheck))  # moto is slow; the data is what it is
def test_the_api_holds_to_its_document_for_every_role(case):
    for role in roles_for(case):
        if role is not None:
            case.headers["Authorization"] = role
        case.call_and_validate(excluded_checks=EXCLUDED)
