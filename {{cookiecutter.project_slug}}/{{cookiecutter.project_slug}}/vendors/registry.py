"""Vendor name -> client, built once per process from settings.VENDORS."""

from __future__ import annotations

import inspect
import threading

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from .base import ConfigurationError, PermanentVendorError, VendorClient
from .limits import client_options

_clients: dict[str, VendorClient] = {}
_lock = threading.Lock()


class UnknownVendor(PermanentVendorError):
    pass


def vendor_client(vendor: str) -> VendorClient:
    """The shared client for a vendor; clients own connection pools, so reuse them."""
    with _lock:
        if vendor not in _clients:
            try:
                config = settings.VENDORS[vendor]
            except KeyError:
                known = ", ".join(sorted(settings.VENDORS))
                raise UnknownVendor(
                    f"no client for vendor {vendor!r}: add it to settings.VENDORS (known: {known})"
                ) from None
            client_class = import_string(f"{__package__}.{config['CLIENT']}")
            options = client_options(config.get("OPTIONS", {}))
            try:
                # The options against the client's parameters, before it is built: an option a
                # team declared in VENDORS but not in its client's __init__ is its setup's
                # mistake, not an error somewhere inside the client.
                inspect.signature(client_class).bind(**options)
            except TypeError as error:
                raise ConfigurationError(
                    f"{vendor}: {client_class.__name__} cannot take the options settings.VENDORS "
                    f"gives it ({error}): give its __init__ a parameter for each"
                ) from None
            _clients[vendor] = client_class(**options)
        return _clients[vendor]


def pushing_client(vendor: str) -> VendorClient | None:
    """The vendor's client if the vendor may push (its webhook_secret is set), else None."""
    if vendor not in settings.VENDORS:
        return None
    try:
        client = vendor_client(vendor)
    except PermanentVendorError:
        return None
    return client if client.webhook_secret else None


def close_clients() -> None:
    with _lock:
        for client in _clients.values():
            client.close()
        _clients.clear()


@receiver(setting_changed)
def _rebuild_clients(setting: str, **kwargs: object) -> None:
    if setting == "VENDORS":
        close_clients()
