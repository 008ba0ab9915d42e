"""Applying our configuration to the add-on, per-device logins and revocation.

All Supervisor calls go through the AddonManager (``get_addon_manager``); all file I/O
and socket probes run in the executor. Options are always written whole (the add-on's
current options with only our keys changed): Home Assistant 2026.8's
``async_configure_addon`` replaces the options instead of merging them.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from homeassistant.core import HomeAssistant

from ..broker.acl import ADDON_SYSTEM_USERS, DeviceTopics, admit, render_acl
from ..const import DOMAIN
from ..pki import PkiStore
from ..pki.keys import plain_pem
from ..pki.names import parse_host
from . import AddonError, get_addon_manager
from .files import (
    TlsFiles,
    customize_dir,
    foreign_acl_conf,
    read_local_rules,
    write_customize,
    write_tls_files,
)
from .options import (
    Change,
    changes,
    customize_folder,
    other_usernames,
    with_customize,
    with_logins,
    with_tls,
)
from .probe import mqtt_login_code, presented_certificate_sha256
from .state import AddonState, new_password, read_state, state_path, write_state

_LOGGER = logging.getLogger(__name__)
DATA_BROKERS = f"{DOMAIN}_addon_brokers"
# Container port -> where Home Assistant reaches it. On Home Assistant OS the core
# container reaches the add-on by its hostname on the container ports; tests map them.
PORT_MAP: dict[int, int] = {}
VERIFY_SECONDS = 60.0
RETRY_SECONDS = 1.0


class AddonSetupError(Exception):
    """Applying failed; ``reason`` is a translation key, ``detail`` free text (no secrets)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason, self.detail = reason, detail


def port(container_port: int) -> int:
    return PORT_MAP.get(container_port, container_port)


@dataclass(frozen=True)
class Plan:
    """What applying does; shown in the confirmation step before anything changes."""

    before: dict[str, Any] = field(repr=False)
    after: dict[str, Any] = field(repr=False)
    changes: tuple[Change, ...]
    folder: str
    other_logins: tuple[str, ...]  # the user's own logins: kept, with full rights in our ACL
    conflicts: tuple[str, ...]  # the user's *.conf files that already set an acl_file
    hostname: str


def _system_and_other(options: Mapping[str, Any], ours: set[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys((*ADDON_SYSTEM_USERS, *other_usernames(options, ours))))


class AddonBroker:
    """The add-on as one entry's broker; one per CA store."""

    def __init__(self, hass: HomeAssistant, store_id: str) -> None:
        self.hass = hass
        self.store_id = store_id
        self.path = state_path(hass, store_id)
        self.state = AddonState()
        self.options: dict[str, Any] = {}  # the add-on's options as last read (has passwords)
        self._lock = asyncio.Lock()

    async def async_load(self) -> AddonState:
        self.state = await self.hass.async_add_executor_job(read_state, self.path)
        return self.state

    async def _async_save(self) -> None:
        await self.hass.async_add_executor_job(write_state, self.path, self.state)

    async def _async_options(self) -> tuple[dict[str, Any], str]:
        info = await get_addon_manager(self.hass).async_get_addon_info()
        return dict(info.options), info.hostname or "core-mosquitto"

    # ---- set-up -------------------------------------------------------------
    async def async_plan(self) -> Plan:
        """The add-on's options now, and with ours (nothing is changed)."""
        before, hostname = await self._async_options()
        after = with_customize(with_tls(before))
        folder = customize_folder(after)
        share = await self.hass.async_add_executor_job(customize_dir, folder)
        conflicts = await self.hass.async_add_executor_job(foreign_acl_conf, share)
        ours = set(self.state.logins) | set(self.state.revoked)
        return Plan(before, after, tuple(changes(before, after)), folder,
                    tuple(other_usernames(before, ours)), tuple(conflicts), hostname)  # fmt: skip

    async def async_apply(self, plan: Plan, store_dir: Path, passphrase: str, host: str) -> None:
        """Write our files, set the options, restart, check port 8883 presents our certificate.

        Raises AddonSetupError. Before the options are set nothing of the user's changed
        (only our own tasmota-tls* files exist); after, a failure puts the options back.
        """
        async with self._lock:
            current, _ = await self._async_options()
            if current != plan.before:
                raise AddonSetupError("addon_options_changed")
            if plan.conflicts:
                raise AddonSetupError("addon_acl_conflict", ", ".join(plan.conflicts))
            tls = await self.hass.async_add_executor_job(_broker_files, store_dir, passphrase, host)
            expected = hashlib.sha256(_first_der(tls.cert_chain_pem)).hexdigest()
            await self.hass.async_add_executor_job(write_tls_files, tls)
            self.state.folder = plan.folder
            await self._async_write_acl([], plan.after)
            manager = get_addon_manager(self.hass)
            try:
                await manager.async_set_addon_options(plan.after)
            except AddonError as err:
                raise AddonSetupError("addon_options_refused", str(err)) from err
            try:
                await manager.async_restart_addon()
                await self._async_verify(plan.hostname, host, expected)
            except (AddonError, AddonSetupError) as err:
                await self._async_put_back(plan.before)
                if isinstance(err, AddonSetupError):
                    raise
                raise AddonSetupError("addon_restart_failed", str(err)) from err
            self.state.applied = True
            await self._async_save()

    async def async_install_renewed(self, store_dir: Path, passphrase: str, host: str) -> None:
        """Serve a renewed broker certificate: rewrite our /ssl files, restart, check 8883.

        The add-on reads its certificate only when it starts, so without this it would go
        on presenting the old one until that expires. Raises AddonSetupError.
        """
        async with self._lock:
            tls = await self.hass.async_add_executor_job(_broker_files, store_dir, passphrase, host)
            expected = hashlib.sha256(_first_der(tls.cert_chain_pem)).hexdigest()
            await self.hass.async_add_executor_job(write_tls_files, tls)
            _, hostname = await self._async_options()
            try:
                await get_addon_manager(self.hass).async_restart_addon()
            except AddonError as err:
                raise AddonSetupError("addon_restart_failed", str(err)) from err
            await self._async_verify(hostname, host, expected)

    async def _async_put_back(self, options: dict[str, Any]) -> None:
        manager = get_addon_manager(self.hass)
        try:
            await manager.async_set_addon_options(options)
            await manager.async_restart_addon()
        except AddonError as err:
            _LOGGER.error("Could not put the Mosquitto add-on's options back: %s", err)

    async def _async_verify(self, hostname: str, server_name: str, expected: str) -> None:
        """Connect to the TLS listener until it answers; its certificate must be ours."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + VERIFY_SECONDS
        last = ""
        while loop.time() < deadline:
            try:
                seen = await self.hass.async_add_executor_job(
                    presented_certificate_sha256, hostname, port(8883), server_name
                )
            except (OSError, ssl.SSLError) as err:
                last = str(err)
                await asyncio.sleep(RETRY_SECONDS)
                continue
            if seen != expected:
                raise AddonSetupError("addon_wrong_certificate", seen)
            return
        raise AddonSetupError("addon_tls_unreachable", last)

    # ---- per-device logins and the ACL -----------------------------------------
    async def _async_write_acl(self, devices: list[DeviceTopics], options: dict[str, Any]) -> bool:
        ours = set(self.state.logins) | set(self.state.revoked)
        identities = _system_and_other(options, ours)
        folder = await self.hass.async_add_executor_job(customize_dir, self.state.folder)
        local = await self.hass.async_add_executor_job(read_local_rules, folder)
        wanted = [device for device in devices if device.name in self.state.logins]
        kept, left = admit(wanted, identities)
        for item in left:
            _LOGGER.warning(
                "Tasmota %s gets no block in the add-on's ACL: %s", item.name, item.reason
            )
        text = render_acl(kept, identities, local=local)
        before = await self.hass.async_add_executor_job(_read, folder / "tasmota-tls.acl")
        await self.hass.async_add_executor_job(write_customize, folder, text)
        return before != text

    async def async_sync(self, devices: list[DeviceTopics]) -> bool:
        """Logins and ACL as the state says; restarts the add-on when anything changed."""
        current, _ = await self._async_options()
        wanted = with_logins(current, self.state.logins, {*self.state.logins, *self.state.revoked})
        acl_changed = await self._async_write_acl(devices, wanted)
        manager = get_addon_manager(self.hass)
        if wanted != current:
            await manager.async_set_addon_options(wanted)
        if wanted == current and not acl_changed:
            return False
        await manager.async_restart_addon()  # logins and ACL are read only at start
        return True

    async def async_login(self, name: str) -> tuple[str, str]:
        """The device's login (created, and saved, on first use)."""
        if name not in self.state.logins:
            self.state.logins[name] = new_password()
            self.state.revoked.pop(name, None)
            await self._async_save()
        return name, self.state.logins[name]

    async def async_forget_login(self, name: str) -> bool:
        """Remove the login from our state (kept aside to check the add-on refuses it)."""
        password = self.state.logins.pop(name, None)
        if password is None:
            return False
        self.state.revoked[name] = password
        await self._async_save()
        return True

    async def async_refused(self, name: str, hostname: str) -> bool:
        """True when the add-on refuses the revoked login (then it is forgotten for good)."""
        password = self.state.revoked.get(name)
        if password is None:
            return True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + VERIFY_SECONDS
        while loop.time() < deadline:
            try:
                code = await self.hass.async_add_executor_job(
                    mqtt_login_code, hostname, port(1883), name, password
                )
            except OSError:
                await asyncio.sleep(RETRY_SECONDS)  # restarting
                continue
            if code != 0:
                del self.state.revoked[name]
                await self._async_save()
                return True
            await asyncio.sleep(RETRY_SECONDS)
        return False

    def previous_passwords(self, options: Mapping[str, Any]) -> dict[str, str]:
        """The user's own logins' passwords, so a rollback can restore a device's old login."""
        ours = {*self.state.logins, *self.state.revoked}
        return {
            str(item["username"]): str(item["password"])
            for item in options.get("logins") or []
            if isinstance(item, Mapping) and item.get("username") not in ours
            and isinstance(item.get("password"), str) and not item.get("password_pre_hashed")
        }  # fmt: skip


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        return None


def _first_der(chain_pem: bytes) -> bytes:
    return x509.load_pem_x509_certificates(chain_pem)[0].public_bytes(serialization.Encoding.DER)


def _broker_files(store_dir: Path, passphrase: str, host: str) -> TlsFiles:
    """The store's broker certificate for ``host`` (issued when it has none for that name)."""
    store = PkiStore(store_dir)
    _, name = parse_host(host)
    cert = store.broker_certificate()
    if cert is None or name not in _names(cert):
        store.issue_broker(passphrase, name, keep_key=cert is not None)
        cert = store.broker_certificate()
    assert cert is not None
    ca_pem = store.ca_certificate().public_bytes(serialization.Encoding.PEM)
    chain = cert.public_bytes(serialization.Encoding.PEM) + ca_pem
    return TlsFiles(chain, plain_pem(store.broker_key(passphrase)), ca_pem)


def _names(cert: Any) -> set[str]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        return {str(v) for v in ext.value.get_values_for_type(x509.DNSName)}
    except x509.ExtensionNotFound:
        return set()


async def async_get_broker(hass: HomeAssistant, store_id: str) -> AddonBroker:
    """The entry's AddonBroker, its state read once."""
    brokers: dict[str, AddonBroker] = hass.data.setdefault(DATA_BROKERS, {})
    if store_id not in brokers:
        broker = AddonBroker(hass, store_id)
        await broker.async_load()
        brokers[store_id] = broker
    return brokers[store_id]


async def async_applied_broker(hass: HomeAssistant, store_id: str) -> AddonBroker | None:
    """The broker when this entry configured the add-on, else None (the bundle path)."""
    broker = await async_get_broker(hass, store_id)
    return broker if broker.state.applied else None
