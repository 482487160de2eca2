"""Reads of observations, kept in one place so that each one can be made fast once."""

from __future__ import annotations

from dataclasses import dataclass

from ..devices.models import Device
from .models import Attribute, Status


@dataclass(frozen=True)
class LatestReadings:
    attributes: list[Attribute]
    status: Status | None


def latest_readings(device: Device) -> LatestReadings:
    """The newest reading of each of a device's attributes, and its newest status.

    One indexed lookup per attribute name on (device, name, valid_at): a device reports a
    handful of names, and each lookup reads one index entry however long the history is.
    """
    names = device.attributes.order_by("name").values_list("name", flat=True).distinct()
    attributes = [device.attributes.filter(name=name).latest() for name in names]
    status = device.statuses.order_by("-valid_at").first()
    return LatestReadings(attributes=attributes, status=status)
