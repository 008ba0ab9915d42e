"""The address guard's claim index answers exactly what a scan of every claim answers.

ClaimIndex narrows the enrolled MACs' claims to those sharing a name, topic or LWT
topic with the device, or a root above or below one of its roots, then runs the same
check (claims.conflict) on them in their order. Topics are drawn from a few short
words so that names, topics and roots collide and nest often; a full topic without
%topic% and odd prefixes make roots of every length.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from custom_components.tasmota_tls.address_guard.claims import Claim, ClaimIndex, conflict
from custom_components.tasmota_tls.discovery import TasmotaDevice

from .settings import fuzz

WORDS = st.sampled_from(["a", "ab", "b", "plug", "plug_1", "p", ""])
FULL_TOPICS = st.sampled_from(
    ["%prefix%/%topic%/", "%topic%/%prefix%/", "home/%topic%/%prefix%/", "%prefix%/a%topic%"]
)
PREFIXES = st.tuples(
    st.sampled_from(["cmnd", "cmnd/a", "c"]),
    st.sampled_from(["stat", "stat/a", "s"]),
    st.sampled_from(["tele", "tele/a", "t"]),
)


@st.composite
def devices(draw: st.DrawFn) -> TasmotaDevice:
    return TasmotaDevice(
        mac=draw(st.sampled_from(["A4CF12000001", "A4CF12000002", "A4CF12000003"])),
        ip="127.0.0.2",
        topic=draw(WORDS.filter(bool)),
        full_topic=draw(FULL_TOPICS),
        prefixes=draw(PREFIXES),
        hostname=draw(WORDS),
        name=draw(WORDS),
        firmware="15.0.1",
        model="Sonoff Basic",
        online_payload="Online",
        offline_payload="Offline",
    )


@st.composite
def claims(draw: st.DrawFn) -> Claim:
    """A claim as the guard makes one: from a device's topics, or a legacy pin's root."""
    device = draw(devices())
    mac = draw(st.sampled_from(["A4CF12000001", "A4CF120000AA", "A4CF120000BB"]))
    name = draw(st.one_of(st.none(), WORDS))
    if draw(st.booleans()):
        return Claim(mac, name, device.ip, None, None, (device.topics.command_topic(),))
    model = device.topics
    return Claim(mac, name, device.ip, model.topic, model.lwt_topic, model.bases())


@fuzz
@given(device=devices(), owned=st.lists(claims(), max_size=8))
def test_index_finds_the_conflict_a_scan_finds(device: TasmotaDevice, owned: list[Claim]) -> None:
    assert ClaimIndex(owned).conflict(device) == conflict(device, owned)


def test_a_conflict_is_found_through_the_index() -> None:
    """Some case must conflict, or the property above would hold for an empty index."""
    device = TasmotaDevice(
        "A4CF12000001", "127.0.0.2", "plug", "%prefix%/%topic%/", ("cmnd", "stat", "tele"),
        "", "", "15.0.1", "", "Online", "Offline",
    )  # fmt: skip
    other = Claim("A4CF120000AA", "x", "127.0.0.3", "x", "tele/x/LWT", ("cmnd/plug/sub/",))
    refusal = ClaimIndex([other]).conflict(device)
    assert refusal is not None
    assert refusal.placeholders["claim"] == "topics under cmnd/plug/sub/"
    assert refusal.placeholders["owner_mac"] == "A4CF120000AA"
