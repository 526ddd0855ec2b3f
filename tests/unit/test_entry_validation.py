"""One entry validation: whatever the API accepts, the stream applies, and the reverse.

Given any combination of entry fields, the API's request schema (EntryIn) and the stream
consumer (a ledger item read from its stream image, then applied) agree on whether the
entry can be applied, and both give the same reason when not.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from balance_alerts.api.schemas import EntryIn
from balance_alerts.domain.entry import check, from_image, problem
from balance_alerts.domain.ledger import apply_entries
from balance_alerts.domain.model import ENTRY_KINDS, AccountState, EntryRejected
from balance_alerts.domain.rules import RuleContext

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)

amounts = st.one_of(st.none(), st.sampled_from(["-5", "0", "0.01", "12.50", "-0.5"]))
texts = st.one_of(st.none(), st.sampled_from(["piano", "ann"]))
documents = st.fixed_dictionaries(
    {"entry_id": st.just("e1"), "kind": st.sampled_from(ENTRY_KINDS)},
    optional={
        "amount": amounts,
        "service": texts,
        "quantity": amounts,
        "member_id": texts,
        "voids": st.sampled_from(["c1", "e1"]),
    },
)


def api_accepts(doc: dict) -> tuple[bool, str]:
    try:
        EntryIn.model_validate({k: v for k, v in doc.items() if v is not None})
    except ValidationError as error:
        return False, error.errors()[0]["msg"]
    return True, ""


def ledger_image(doc: dict) -> dict:
    """The ledger item the API writes for ``doc`` (a void names a credit of 5 it reverses)."""
    image = {k: v for k, v in doc.items() if v is not None}
    image |= {"recorded_at": NOW.isoformat(), "tenant_id": "t", "account_id": "a"}
    if doc["kind"] == "void":
        image |= {"void_delta": "-5", "voided_kind": "credit"}
    return image


def stream_applies(doc: dict) -> tuple[bool, str]:
    try:
        entry = from_image(ledger_image(doc))
        check(entry, "USD")
    except EntryRejected as rejected:
        return False, str(rejected)
    outcome = apply_entries(AccountState("t", "a"), [entry], RuleContext(), NOW).outcomes[0]
    return outcome.result == "applied", outcome.reason


@settings(max_examples=400, deadline=None)
@given(documents)
def test_the_api_and_the_stream_accept_the_same_entries(doc):
    accepted, api_reason = api_accepts(doc)
    applied, stream_reason = stream_applies(doc)
    assert accepted == applied, (doc, api_reason, stream_reason)
    if not accepted:
        assert stream_reason in api_reason


def test_every_refusal_names_what_to_change():
    assert problem("charge") == "charge needs an amount > 0, or a service and a quantity"
    assert problem("credit", amount=Decimal(0)) == "credit needs an amount > 0"
    assert problem("credit", amount=Decimal(1), service="piano") == (
        "service, quantity and member_id belong to a charge")
    assert problem("void", voids="e1", entry_id="e1") == "an entry cannot void itself"
    assert problem("void", voids="c1", amount=Decimal(5)) == (
        "a void takes no amount: it reverses the voided entry")
    assert problem("gift") == "unknown entry kind 'gift'"
