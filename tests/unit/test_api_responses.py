"""The configuration responses show every field of the request they store (a field added
to a request model and forgotten in its response model would silently vanish on GET)."""

from __future__ import annotations

import pytest

from balance_alerts.api.responses import ClassOut, ProfileOut, SettingsOut
from balance_alerts.api.schemas import ClassIn, ProfileIn, SettingsIn


@pytest.mark.parametrize("request_model, response_model, id_field", [
    (SettingsIn, SettingsOut, None),
    (ProfileIn, ProfileOut, "profile_id"),
    (ClassIn, ClassOut, "class_id"),
])
def test_a_response_has_the_fields_of_its_request(request_model, response_model, id_field):
    expected = set(request_model.model_fields) | ({id_field} if id_field else set())
    assert set(response_model.model_fields) == expected
