"""Constants for the Tasmota TLS integration."""

from __future__ import annotations

from typing import Final

from .pki import limits

DOMAIN: Final = "tasmota_tls"

# Config entry data
CONF_CA_SOURCE: Final = "ca_source"
CONF_CUSTODY: Final = "custody"
CONF_PASSPHRASE: Final = "passphrase"  # noqa: S105 (a key name)
CONF_STORE_ID: Final = "store_id"
CONF_BROKER_HOST: Final = "broker_host"
CONF_BROKER_PORT: Final = "broker_port"
CONF_CA_NAME: Final = "ca_name"
CONF_CA_ALGORITHM: Final = "ca_algorithm"
CONF_PKI_PATH: Final = "pki_path"
CONF_CERT_PEM: Final = "certificate_pem"
CONF_KEY_PEM: Final = "key_pem"

CA_SOURCE_CREATE: Final = "create"
CA_SOURCE_EASYRSA: Final = "easyrsa"
CA_SOURCE_PEM: Final = "pem"

CUSTODY_UNATTENDED: Final = "unattended"
CUSTODY_ATTENDED: Final = "attended"

# Options
CONF_RENEW_DAYS: Final = "renew_days"
CONF_AUTO_RENEW: Final = "auto_renew"
CONF_AUTO_ENROL: Final = "auto_enrol"
CONF_VALIDATION: Final = "validation"
CONF_CHANNEL: Final = "channel"
CONF_HTTP_PORT: Final = "http_port"
CONF_WEB_PASSWORD: Final = "web_password"  # noqa: S105 (a key name)
CONF_ROLLBACK_MINUTES: Final = "rollback_minutes"
CONF_MAX_PARALLEL_ENROLMENTS: Final = "max_parallel_enrolments"
CONF_ACL_DENY: Final = "acl_deny"
CONF_RENEW_OVER_TLS: Final = "renew_over_tls"

VALIDATION_FINGERPRINT: Final = "fingerprint"
VALIDATION_CA: Final = "ca"
CHANNEL_HTTP: Final = "http"
CHANNEL_MQTT: Final = "mqtt"

DEFAULT_CA_NAME: Final = "Tasmota TLS CA"
DEFAULT_TLS_PORT: Final = limits.DEFAULT_TLS_PORT
DEFAULT_RENEW_DAYS: Final = 30
DEFAULT_AUTO_RENEW: Final = True
DEFAULT_AUTO_ENROL: Final = False
DEFAULT_VALIDATION: Final = VALIDATION_FINGERPRINT
DEFAULT_CHANNEL: Final = CHANNEL_HTTP
DEFAULT_HTTP_PORT: Final = 80
DEFAULT_ROLLBACK_MINUTES: Final = 5
# Enrolments mostly wait on devices restarting (about 11 s each with the firmware's
# timings). Measured with 200 devices (bench/RESULTS.md): 50 at a time kept the event
# loop's p99 lag near 20 ms and its stalls outside garbage collection as short as 16 or
# 32 did, and moved the fleet in about a minute; 100 added little and lagged more.
DEFAULT_MAX_PARALLEL_ENROLMENTS: Final = 50
MAX_PARALLEL_ENROLMENTS_LIMIT: Final = 100
MIN_PASSPHRASE_LENGTH: Final = 8
# Topic roots no device's ACL may reach (one per line in the option). Always added:
# every "$" topic (the broker's own, $SYS) and the discovery prefix, where each device
# may write only tasmota/discovery/<its MAC>/.
DEFAULT_ACL_DENY: Final = "homeassistant/\nzigbee2mqtt/"
FIXED_ACL_DENY: Final = ("$", "tasmota/discovery/")
# A device already on TLS is renewed over its TLS MQTT session (ACL-protected), not
# over plain HTTP.
DEFAULT_RENEW_OVER_TLS: Final = True

# Device certificates live a year; the CRL a month and is rebuilt with a third left.
DEVICE_CERT_DAYS: Final = 365
CRL_DAYS: Final = 30
CRL_REFRESH_WHEN_LEFT_DAYS: Final = 10
CA_EXPIRY_WARNING_DAYS: Final = 90

# Service fields
ATTR_DEVICE_ID: Final = "device_id"
ATTR_CONFIG_ENTRY_ID: Final = "config_entry_id"
ATTR_REASON: Final = "reason"
ATTR_LAYOUT: Final = "layout"
ATTR_SERIAL: Final = "serial"

SERVICE_ENROL: Final = "enrol"
SERVICE_ENROLL: Final = "enroll"  # the first release's spelling, kept as an alias of enrol
SERVICE_RENEW: Final = "renew"
SERVICE_REVOKE: Final = "revoke"
SERVICE_EXPORT_TRUST_ANCHOR: Final = "export_trust_anchor"
SERVICE_EXPORT_BROKER_BUNDLE: Final = "export_broker_bundle"

# Dispatcher signal (formatted with the entry ID): a device was discovered, add its entities.
SIGNAL_NEW_DEVICE: Final = f"{DOMAIN}_new_device_{{}}"

# Events fired for automations
EVENT_TASMOTA_TLS: Final = "tasmota_tls_event"
EVENT_ENROLLED: Final = "enrolled"
EVENT_ENROLMENT_FAILED: Final = "enrolment_failed"
EVENT_CERTIFICATE_EXPIRING: Final = "certificate_expiring"
EVENT_CERTIFICATE_EXPIRED: Final = "certificate_expired"
EVENT_RENEWED: Final = "renewed"
EVENT_REVOKED: Final = "revoked"

FIRMWARE_DOCS_URL: Final = "https://tasmota.github.io/docs/TLS/"

# Where the CA and the certificates it issued are kept: one directory per entry.
STORAGE_DIR: Final = ".storage/tasmota_tls"
EXPORT_DIR: Final = "tasmota_tls"
