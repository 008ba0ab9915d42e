"""Test infrastructure: a real Mosquitto broker and a Tasmota-like BearSSL MQTT client."""
