"""The /cm URL, reply interpretation and the plain transport's loopback fence."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from custom_components.tasmota_tls.enrolment.transport import (
    TransportError,
    cm_url,
    parse_cm_reply,
)
from tests.helpers.plain_transport import PlainTransport


def test_cm_url_encodes_base64_and_password_completely() -> None:
    url = cm_url("127.0.0.2", 8080, "TLSKey1 ab+c/d==", "p&ss=w+rd")
    query = urlsplit(url).query
    assert "+" not in query and "/" not in query.split("?")[-1]
    assert query.count("=") == 3  # only the three key=value separators remain
    assert parse_qs(query) == {
        "user": ["admin"],
        "password": ["p&ss=w+rd"],
        "cmnd": ["TLSKey1 ab+c/d=="],
    }
    assert url.startswith("http://127.0.0.2:8080/cm?")


def test_cm_url_without_password_has_no_credentials() -> None:
    assert cm_url("127.0.0.3", 80, "Status 6", None) == "http://127.0.0.3:80/cm?cmnd=Status%206"


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (401, "", "auth"),
        (200, '{"WARNING":"Need user=<username>&password=<password>"}', "auth"),
        (500, "", "bad_reply"),
        (200, "<html>", "bad_reply"),
        (200, "[1]", "bad_reply"),
    ],
)
def test_cm_reply_errors(status: int, body: str, kind: str) -> None:
    with pytest.raises(TransportError) as caught:
        parse_cm_reply(status, body, "127.0.0.2")
    assert caught.value.kind == kind


def test_cm_reply_backlog_warning_is_not_an_error() -> None:
    reply = parse_cm_reply(200, '{"WARNING":"Enable weblog 2 if response expected"}', "127.0.0.2")
    assert reply == {"WARNING": "Enable weblog 2 if response expected"}


def test_plain_transport_refuses_other_networks() -> None:
    with pytest.raises(ValueError, match="loopback"):
        PlainTransport("192.0.2.1", 1883)
    with pytest.raises(ValueError, match="loopback"):
        PlainTransport("mqtt.example.org", 1883)


async def test_plain_transport_http_refuses_other_networks() -> None:
    transport = PlainTransport("127.0.0.1", 1)
    with pytest.raises(ValueError, match="loopback"):
        await transport.http_command("192.0.2.7", 80, "Status 6", None, 1.0)
