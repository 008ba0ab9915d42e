"""An EC CA in CA mode: the broker certificate is ECDSA-signed.

Tasmota's BearSSL client verifies such a chain only with ``SetOption165 1`` on a build with
USE_MQTT_TLS_ECDSA (the default since v15.1); otherwise every attempt fails with TLS error 49,
and the firmware does not turn SetOption165 on by itself after 49 (only after 296). So the
engine sends ``SetOption165 1`` with the switch, the rollback rule restores the previous
value, and a device that rolls back after it fails with its own reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric import ec

from .model import EnrolmentError, EnrolmentStep

if TYPE_CHECKING:
    from ..pki import IssuedCredential
    from .model import EnrolmentOptions

REASON = "ecdsa_unsupported"


def needs_ecdsa(options: EnrolmentOptions, credential: IssuedCredential) -> bool:
    """CA mode with a CA that signs with ECDSA: the CA that signed this device certificate
    signs the broker's too."""
    return options.validation == "ca" and isinstance(
        credential.certificate.signature_algorithm_parameters, ec.ECDSA
    )


def unsupported_error() -> EnrolmentError:
    return EnrolmentError(
        EnrolmentStep.WAIT_ONLINE,
        REASON,
        "with the EC CA and SetOption165 1 the device did not connect over TLS and is back on "
        "its previous settings: most likely its firmware cannot verify the ECDSA-signed broker "
        "certificate (TLS error 49). It needs a build with USE_MQTT_TLS_ECDSA (the default "
        "since Tasmota 15.1), or use an RSA CA.",
    )
