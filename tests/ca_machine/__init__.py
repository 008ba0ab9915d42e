"""The command-line tool on the CA machine: Debian's own python3 and python3-cryptography."""
