"""to_dynamo / to_plain: what the account and config items store, exactly as boto3's
TypeSerializer would write it, and read back unchanged (Decimals stay exact)."""

from __future__ import annotations

import decimal
from decimal import Decimal

import pytest
from boto3.dynamodb.types import TypeSerializer
from hypothesis import given
from hypothesis import strategies as st

from balance_alerts.adapters.attributes import DocumentAttribute, to_dynamo, to_plain

money = st.decimals(allow_nan=False, allow_infinity=False, places=4,
                    min_value=Decimal("-1e20"), max_value=Decimal("1e20"))
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-10**30, max_value=10**30), money,
    st.text(max_size=20), st.binary(max_size=10),
)
values = st.recursive(
    st.one_of(scalars,
              st.frozensets(st.text(max_size=5), min_size=1, max_size=4),
              st.frozensets(st.integers(-1000, 1000), min_size=1, max_size=4)),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=20,
)


@given(values)
def test_writes_what_boto3_would_write(value):
    assert to_dynamo(value) == TypeSerializer().serialize(value)


@given(st.dictionaries(st.text(max_size=8), values, max_size=5))
def test_a_document_reads_back_unchanged(document):
    attribute = DocumentAttribute()
    back = attribute.deserialize(attribute.serialize(document))
    assert back == _as_read(document)


def _as_read(value):
    """What reading gives back: tuples become lists, frozensets sets."""
    if isinstance(value, dict):
        return {key: _as_read(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_as_read(item) for item in value]
    if isinstance(value, frozenset):
        return set(value)
    return value


def test_an_amount_keeps_all_38_digits_and_its_sign():
    amount = Decimal("-1234567890123456789012345678.9012345678")
    assert to_plain(to_dynamo({"balance": amount})) == {"balance": amount}


@pytest.mark.parametrize("value, error", [
    (1.5, TypeError),                                    # floats never reach a balance
    ({"x": [0.1]}, TypeError),
    (Decimal("1234567890123456789012345678901234567891"), decimal.Inexact),  # 40 digits
    (object(), TypeError),
])
def test_refuses_what_dynamodb_cannot_hold_exactly(value, error):
    with pytest.raises(error):
        to_dynamo(value)
    with pytest.raises(error):
        TypeSerializer().serialize(value)


def test_an_empty_set_is_refused_here_not_by_dynamodb_later():
    with pytest.raises(TypeError):
        to_dynamo({"tags": set()})


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "sNaN"])
def test_refuses_nan_and_infinity_before_dynamodb_does(number):
    # DynamoDB answers a ValidationException (a ClientError, which the stream functions
    # retry as transient); boto3's serializer raised TypeError for NaN and Infinity.
    values = [{"x": Decimal(number)}, {"x": [Decimal(number)]}]
    if not Decimal(number).is_snan():  # a signaling NaN cannot be hashed into a set
        values.append({"x": {Decimal(number)}})
    for value in values:
        with pytest.raises(TypeError):
            to_dynamo(value)
