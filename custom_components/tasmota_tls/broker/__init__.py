"""What the Mosquitto broker needs: its bundle, its ACL and the state of its CRL.

Built on the certificate core (``pki``) and, like it, free of Home Assistant, so
that the integration and the command-line tool write the same files.
"""
