"""What the firmware fixes at build time, each value with the source it is read from.

The simulator's own source of truth. Nothing here comes from the integration: if both sides
took one module, a wrong limit would pass every test. tests/virtual_tasmota/
test_firmware_constants.py compares the integration's pki/limits.py with these values.
Paths are in the arendst/Tasmota repository.
"""

from __future__ import annotations

from dataclasses import dataclass

# -- MQTT ------------------------------------------------------------------------------------
# tasmota/tasmota_xdrv_driver/xdrv_02_9_mqtt.ino, header comment "#define MQTT_MAX_PACKET_SIZE
# 1200 // Tasmota v8.1.0.8", applied by MqttInit(): MqttClient.setBufferSize(MQTT_MAX_PACKET_SIZE).
# PubSubClient (lib/default/pubsubclient) drops a whole incoming packet larger than its buffer.
MQTT_MAX_PACKET_SIZE = 1200
# tasmota/tasmota_xdrv_driver/xdrv_01_9_webserver.ino, HandleHttpCommand(): a cmnd of
# MQTT_MAX_PACKET_SIZE characters or more gets the "Enter command cmnd=" warning instead.
WEB_COMMAND_MAX_CHARS = MQTT_MAX_PACKET_SIZE

# tasmota/my_user_config.h: MQTT_USER "DVES_USER", MQTT_PASS "DVES_PASS", MQTT_CLIENT_ID
# "DVES_%06X", MQTT_FULLTOPIC "%prefix%/%topic%/", MQTT_RETRY_SECS 10, MQTT_KEEPALIVE 30.
# MqttReconnect() (xdrv_02_9_mqtt.ino) sends SET_MQTT_USER / SET_MQTT_PWD whenever they are not
# empty, so a device whose MqttUser was never set sends DVES_USER / DVES_PASS. Only a
# USE_MQTT_AWS_IOT build clears both when a client key is loaded; USE_MQTT_CLIENT_CERT keeps them.
MQTT_USER = "DVES_USER"
MQTT_PASS = "DVES_PASS"  # noqa: S105 - the firmware's published default, not a secret
MQTT_CLIENT_ID = "DVES_%06X"
MQTT_FULLTOPIC = "%prefix%/%topic%/"
MQTT_RETRY_SECS = 10
MQTT_KEEPALIVE = 30

# -- TLSKey (CmndTlsKey and loadTlsDir in xdrv_02_9_mqtt.ino) ----------------------------------
# "TLSKey: Certificate must be 32 bytes": the key is the raw P-256 scalar.
TLSKEY1_BYTES = 32
# "if (bin_len <= 256) ... Certificate length too short": the certificate needs 257 bytes.
TLSKEY2_MIN_DER = 257
# tls_block_len = 0x0400 ("1kb"); the objects start after sizeof(tls_dir_t): four tls_entry_t
# of 8 bytes (uint32_t name, uint16_t start, uint16_t len). The certificate starts at the key's
# end aligned to 4 bytes ("(start + len + 3) & ~0x03"). CmndTlsKey has no upper check.
TLSKEY_BLOCK_BYTES = 0x0400
TLSKEY_DIRECTORY_BYTES = 4 * 8
TLSKEY2_MAX_DER = TLSKEY_BLOCK_BYTES - TLSKEY_DIRECTORY_BYTES - ((TLSKEY1_BYTES + 3) & ~3)

# -- TLS (lib/lib_ssl/tls_mini/src/WiFiClientSecureLightBearSSL.cpp) ---------------------------
# br_ssl_client_base_init(): br_ssl_engine_set_versions(&cc->eng, BR_TLS12, BR_TLS12).
TLS_VERSION = "TLSv1.2"
# The suites table: ECDHE-RSA-AES128-GCM-SHA256; the ECDSA suite and br_x509_minimal_set_ecdsa()
# only with SetOption165 1 on a USE_MQTT_TLS_ECDSA build (RELEASENOTES.md v15.1.0.3: "TLS fix
# ECDSA and add SetOption165 1 to enable ECDSA in addition to RSA" #24000). Fingerprint mode
# (br_x509_pubkeyfingerprint) offers the RSA suite only.
RSA_SUITE = "ECDHE-RSA-AES128-GCM-SHA256"
ECDSA_SUITE = "ECDHE-ECDSA-AES128-GCM-SHA256"
# br_ssl_engine_set_ec(&cc->eng, &br_ec_p256_m15): P-256 only.
TLS_CURVE = "prime256v1"
# BR_MAX_RSA_SIZE of lib/lib_ssl/bearssl-esp8266 (2048 unless built with USE_4K_RSA).
ESP8266_MAX_RSA_BITS = 2048
# RELEASENOTES.md v15.1.0.3: "TLS enabled ECDSA by default for ESP8266" (#24009); my_user_config.h
# defines USE_MQTT_TLS_ECDSA from then on, and a build may undefine it.
ECDSA_DEFAULT_SINCE = (15, 1, 0)
# my_user_config.h, MQTT_TLS_ECDSA [SetOption165]: "false by default but automatically set to
# 'true' in case of a cipher error '296'". Nothing sets it after 49.
AUTO_ECDSA_AFTER_ERROR = 296

# _connectSSL(): br_x509_minimal_set_time() gets max(UtcTime(), CfgTime()); CfgTime() is the
# cfg_timestamp that SettingsSave() (tasmota/tasmota_support/settings.ino) writes: UtcTime() once
# it is past START_VALID_TIME, else the old stamp plus one. A fresh flash without NTP is in 1970.
START_VALID_TIME = 1451602800  # tasmota/include/tasmota.h: 2016-01-01

# getLastError() numbers, as the table in MqttReconnect()'s comment lists them (from
# lib/lib_ssl/bearssl-esp8266/src/t_bearssl_ssl.h and t_bearssl_x509.h).
BR_ERR_BAD_PARAM = 1
BR_ERR_IO = 31
BR_ERR_X509_UNSUPPORTED = 49
BR_ERR_X509_LIMIT_EXCEEDED = 50
BR_ERR_X509_EXPIRED = 54
BR_ERR_X509_BAD_SERVER_NAME = 56
BR_ERR_X509_NOT_TRUSTED = 62
BR_ERR_RECV_FATAL_ALERT = 256
ERR_TCP_CONNECT = -1002
# pubkeyfingerprint_end_chain() returns 1 on a mismatch, which becomes the error.
FINGERPRINT_MISMATCH = 1


def version_tuple(version: str) -> tuple[int, ...]:
    parts: list[int] = []
    for piece in version.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


@dataclass(frozen=True)
class FirmwareBuild:
    """The build a device runs: version, chip, and the TLS flags that version's defaults set.

    tls_ecdsa None means the version's default (USE_MQTT_TLS_ECDSA from v15.1 on); True or
    False is a custom build with the flag defined or undefined.
    """

    version: str = "14.5.0"
    chip: str = "esp8266"
    tls_ecdsa: bool | None = None

    @property
    def aws_iot(self) -> bool:
        """Before 14.5 TLSKey came with USE_MQTT_AWS_IOT; USE_MQTT_CLIENT_CERT replaced it."""
        return version_tuple(self.version) < (14, 5, 0)

    @property
    def ecdsa(self) -> bool:
        """USE_MQTT_TLS_ECDSA: an ECDSA chain verifier and suite exist (SetOption165 enables)."""
        if self.tls_ecdsa is not None:
            return self.tls_ecdsa
        return version_tuple(self.version) >= ECDSA_DEFAULT_SINCE


# -- Timing of a restart (what a device needs by itself, not what Home Assistant adds) ----------
# The simulator's Timing defaults (device.py) are built from these; tests pass FAST_TIMING-like
# values instead so that the suite stays fast. Firmware figures are from the code; what the code
# does not fix (the chip's boot, the access point's association and DHCP, BearSSL's arithmetic)
# is marked as an estimate with its source, and a benchmark should say so.
#
# tasmota/tasmota_support/support_tasmota.ino, Every250mSeconds(): restart_flag is counted down
# once a second (one of the four 250 ms slots) while the Backlog is empty, and EspRestart() runs
# when it reaches 1; CmndRestart and the SetOption103 change set it to 2, so 1-2 s: mean 1.5 s.
RESTART_FLAG_SECONDS = 1.5
# support_wifi.ino, WifiShutdown(): delay(100) before, delay(100) after MqttDisconnect(), and
# delay(100) after wifi_station_disconnect(), before ESP_Restart().
SHUTDOWN_SECONDS = 0.3
# ESP8266 ROM and bootloader, then Tasmota's setup() (settings from flash, drivers): about 1 s
# to the first loop() — an estimate; no firmware constant fixes it.
CHIP_BOOT_SECONDS = 1.0
# support_wifi.ino, WifiConnect(): Wifi.counter = 1, so the first WifiCheck() (once a second)
# calls WifiBegin(3, Settings->wifi_channel) with the saved BSSID and channel (quick reconnect):
# delay(200) after WiFi.disconnect(true), delay(100) + delay(30) in WifiSetMode(WIFI_STA).
WIFI_BEGIN_SECONDS = 1.0 + 0.2 + 0.13
# Association, WPA2 handshake and DHCP belong to the access point: WiFi.begin() returns at once
# and WifiCheckIp() looks again every second ("Wifi.counter = 1; // Re-check in 1 second").
# Estimate: 2 s for the access point, plus 0.5 s mean until the next one-second check.
WIFI_ASSOCIATE_SECONDS = 2.0 + 0.5
# xdrv_02_9_mqtt.ino, MqttCheck() (once a second while the network is up): Mqtt.retry_counter
# starts at 1, so the first MqttReconnect() comes one to two checks after Wi-Fi: mean 1.5 s.
MQTT_FIRST_ATTEMPT_SECONDS = 1.5
# BearSSL on an ESP8266 at Tasmota's default 80 MHz: ECDHE on P-256 plus the client's ECDSA
# signature. esp8266/Arduino doc/esp8266wifi/bearssl-client-secure-class.rst: "Even at 160 MHz,
# certain key exchanges can take multiple seconds"; TLS sessions "save significant time (3-4
# seconds in the case of EC keys)". Estimate: 2 s per full handshake.
TLS_HANDSHAKE_SECONDS = 2.0
# Power on to MQTT connect attempt: what Timing.boot_delay stands for.
BOOT_TO_MQTT_SECONDS = (
    CHIP_BOOT_SECONDS + WIFI_BEGIN_SECONDS + WIFI_ASSOCIATE_SECONDS + MQTT_FIRST_ATTEMPT_SECONDS
)
# tasmota/include/tasmota.h: MIN_BACKLOG_DELAY 200 (ms), SetOption34's default.
BACKLOG_DELAY_SECONDS = 0.2
