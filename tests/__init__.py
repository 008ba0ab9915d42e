"""Tests for tasmota_tls."""
