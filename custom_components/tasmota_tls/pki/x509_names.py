"""The names a certificate carries: its CN and the hosts it is valid for."""

from __future__ import annotations

from cryptography import x509
from cryptography.x509.oid import NameOID


def common_name(certificate: x509.Certificate) -> str:
    """The subject's CN, or the whole subject when it has none (an imported CA may not)."""
    values = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[0].value) if values else certificate.subject.rfc4514_string()


def certificate_names(certificate: x509.Certificate) -> tuple[str, ...]:
    """The DNS names and IP addresses a server certificate is valid for (lowercase).

    Without a SAN the CN stands in, as it does for clients that still read it.
    """
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        names = [common_name(certificate)]
    else:
        names = [*san.get_values_for_type(x509.DNSName)]
        names += [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    return tuple(sorted({name.lower() for name in names}))
