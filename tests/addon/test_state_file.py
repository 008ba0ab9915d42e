"""The add-on state file: read defensively, and never shows a password."""

from __future__ import annotations

import json

import pytest

from custom_components.tasmota_tls.addon.state import AddonState, new_password


def test_a_state_round_trips_and_its_repr_hides_the_passwords() -> None:
    password = new_password()
    state = AddonState(True, "mosquitto", {"dev1": password}, {"dev2": new_password()})
    again = AddonState.from_json(json.loads(state.to_json()))
    assert again == state
    assert password not in repr(again)
    assert repr(again) == "AddonState(applied=True, devices=['dev1'])"


def test_odd_values_in_the_file_become_empty_or_text() -> None:
    state = AddonState.from_json({"applied": 1, "folder": None, "logins": ["x"], "revoked": {1: 2}})
    assert (state.applied, state.folder, state.logins, state.revoked) == (True, "", {}, {"1": "2"})


def test_a_file_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(ValueError, match="JSON object"):
        AddonState.from_json(["applied"])
