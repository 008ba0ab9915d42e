"""CRL numbers: one new CRL per revocation, its number one above the last, never reused."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from homeassistant.core import HomeAssistant

from custom_components.tasmota_tls.ca import CertificateAuthority
from custom_components.tasmota_tls.pki import PkiStore
from custom_components.tasmota_tls.pki.revocation import crl_number
from tests.helpers.constants import MAC

from .support import PASSPHRASE


def _number(store: PkiStore) -> int:
    crl = store.crl()
    assert crl is not None
    return crl_number(crl)


def _revoked_serials(crl: x509.CertificateRevocationList) -> set[int]:
    return {revoked.serial_number for revoked in crl}


def test_store_revocation_spends_exactly_one_number(store: PkiStore) -> None:
    store.generate_crl(PASSPHRASE)
    seen = {_number(store)}
    for name in ("plug-1", "plug-2", "plug-3"):
        before = _number(store)
        issued = store.issue_device(PASSPHRASE, name)
        store.revoke(PASSPHRASE, name)
        crl = store.crl()
        assert crl is not None
        assert crl_number(crl) == before + 1
        assert issued.entry.serial_int in _revoked_serials(crl)
        assert crl_number(crl) not in seen
        seen.add(crl_number(crl))


async def test_ca_revoke_signs_one_crl(hass: HomeAssistant, tmp_path: Path) -> None:
    """The integration's revoke writes the store's CRL once: the number goes up by one."""
    directory = tmp_path / "ca"
    await hass.async_add_executor_job(PkiStore(directory).init_ca, PASSPHRASE, "HA CA")
    ca = CertificateAuthority(hass, directory)
    await ca.async_generate_crl(PASSPHRASE)
    numbers = [_number(ca.store)]
    for name in ("plug-1", "plug-2"):
        mac = MAC[:-1] + name[-1]
        issued = await ca.async_issue_device(PASSPHRASE, name, name, f"cmnd/{name}/", mac)
        await ca.async_revoke(PASSPHRASE, issued.entry.serial, "key_compromise")
        numbers.append(_number(ca.store))
        crl = ca.store.crl()
        assert crl is not None
        assert issued.entry.serial_int in _revoked_serials(crl)
    assert numbers == [numbers[0], numbers[0] + 1, numbers[0] + 2]
    # The number the index spent is the one on disk: no CRL was signed and thrown away.
    assert ca.store._index().crl_number == numbers[-1]
