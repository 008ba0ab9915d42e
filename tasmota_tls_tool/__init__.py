"""The `tasmota-tls` command-line tool, for the CA machine (scripts/tasmota-tls).

Home Assistant never loads it, so it is not in the integration's folder: the commands
(cli_pki, cli_broker, cli_rotate, with what they share in common), forked-process signing
and the paho-based --apply. It uses the core in custom_components/tasmota_tls/pki and
.../broker, which needs only `cryptography`; scripts/tasmota_tls_cli.py imports that core
without the integration's __init__ (and so without Home Assistant).
"""
