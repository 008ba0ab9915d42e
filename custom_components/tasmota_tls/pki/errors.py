"""Errors with a stable code (for translations) and a message that names the fix.

Messages never carry key material or passphrases.
"""

from __future__ import annotations


class PkiError(Exception):
    """Base error; `code` is stable and machine-readable."""

    code = "pki_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class WrongPassphraseError(PkiError):
    code = "wrong_passphrase"


class StoreCorruptError(PkiError):
    code = "store_corrupt"


class InvalidNameError(PkiError):
    code = "invalid_name"


class SizeLimitError(PkiError):
    code = "certificate_too_large"


class NotFoundError(PkiError):
    code = "not_found"
