"""The CA passphrase: kept in the private secrets file (unattended) or given per request."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError

from .ca import CertificateAuthority
from .const import DOMAIN
from .pki import PkiError, WrongPassphraseError
from .secret_store import SecretStore
from .settings import EntrySettings


class PassphraseCustody:
    """Hands out the passphrase, checked; forgets a given one after the operation."""

    def __init__(
        self,
        hass: HomeAssistant,
        settings: EntrySettings,
        ca: CertificateAuthority,
        secrets: SecretStore,
    ) -> None:
        """Custody as the entry's settings say."""
        self._hass = hass
        self._settings = settings
        self._ca = ca
        self._secrets = secrets

    def stored_passphrase(self) -> str | None:
        """The unattended passphrase from the private secrets file; None when attended."""
        return self._secrets.passphrase if self._settings.unattended else None

    async def async_passphrase(self, given: str | None) -> str:
        """The CA passphrase: kept (unattended) or given with the request (attended).

        Raises a translated error when it is missing or wrong, or the store is unusable.
        """
        secret = self.stored_passphrase() or given
        if not secret:
            raise ServiceValidationError(
                translation_domain=DOMAIN, translation_key="passphrase_required"
            )
        try:
            await self._ca.async_check_passphrase(secret)
        except WrongPassphraseError:
            raise ServiceValidationError(
                translation_domain=DOMAIN, translation_key="wrong_passphrase"
            ) from None
        except (PkiError, OSError) as err:  # a damaged or unreadable store, not the passphrase
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="store_error",
                translation_placeholders={"error": str(err)},
            ) from err
        return secret

    async def async_release(self) -> None:
        """After an operation in attended custody: the store drops the unlocked key."""
        if not self._settings.unattended:
            await self._hass.async_add_executor_job(self._ca.store.forget_passphrases)
