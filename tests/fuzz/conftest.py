"""Fixtures for the fuzz tests: the enrolment tests' PKI store (a CA made once a session)."""

from __future__ import annotations

from tests.enrolment.fixtures import pki_store  # noqa: F401 (a fixture)
