"""patrol-gateway: GNSS receivers and TETRA radios to MQTT for police patrol management systems."""

__version__ = "0.1.0"
