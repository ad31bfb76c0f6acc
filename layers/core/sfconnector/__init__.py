"""Shared code of the Salesforce connector (deployed as the core Lambda layer)."""

API_VERSION = "v62.0"
"""The one Salesforce REST API version this connector speaks (client and emulator)."""
