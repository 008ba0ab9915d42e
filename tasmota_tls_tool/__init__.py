"""The `tasmota-tls` command-line tool, for the CA machine (scripts/tasmota-tls).

Home Assistant never loads it, so it is not in the integration's folder: the CLI, its
broker and rotation commands, forked-process signing and the paho-based --apply. It
uses the PKI core in custom_components/tasmota_tls/pki, which needs only `cryptography`;
scripts/tasmota_tls_cli.py imports that core without the integration's __init__ (and so
without Home Assistant).
"""
