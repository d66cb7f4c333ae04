"""The handshake's decisions that need no socket: the charger id in the path and the
subprotocol chosen for it (the refusals over a real socket: tests/controller/hostile)."""

from __future__ import annotations

import pytest

from controller.ocpp.edge import EdgeStats
from controller.ocpp.gate import Gate
from controller.ocpp.handshake import SUBPROTOCOL, SUBPROTOCOL_V201, Handshake
from controller.site import SiteState
from tests.controller.site_factory import site_config


@pytest.fixture
def handshake(tmp_path):
    chargers = [
        {"id": "CP001", "max_current_a": 32.0, "circuit": "feeder"},
        {"id": "OLD", "max_current_a": 32.0, "circuit": "feeder", "ocpp_version": "1.6"},
    ]
    config = site_config(f"sqlite:///{tmp_path / 's.db'}", chargers=chargers)
    return Handshake(config, SiteState(config), Gate(config.ocpp.limits), EdgeStats())


@pytest.mark.parametrize(
    ("path", "charger_id"),
    [
        ("/ocpp/CP001", "CP001"),
        ("/ocpp/CP%20001?x=1", "CP 001"),
        ("/ocpp/", None),
        ("/other/CP001", None),
        ("/ocpp/a/b", None),
        ("/ocpp/" + "x" * 49, None),
    ],
)
def test_the_charger_id_comes_from_the_path(handshake, path, charger_id):
    assert handshake.charger_id_from_path(path) == charger_id


def test_201_is_preferred_unless_the_charger_is_pinned(handshake):
    both = [SUBPROTOCOL, SUBPROTOCOL_V201]
    assert handshake.choose_subprotocol("CP001", both) == SUBPROTOCOL_V201
    assert handshake.choose_subprotocol("CP001", [SUBPROTOCOL]) == SUBPROTOCOL
    assert handshake.choose_subprotocol("OLD", both) == SUBPROTOCOL
    assert handshake.choose_subprotocol("OLD", [SUBPROTOCOL_V201]) is None
    assert handshake.choose_subprotocol("CP001", ["ocpp1.5"]) is None
