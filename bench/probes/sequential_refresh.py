"""The 2016 template's refresh, for reference: one device at a time, one vendor call each,
one create() per reading. Prints seconds for BENCH_REFERENCE_DEVICES devices."""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.getcwd())
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

import django

django.setup()

SLUG = os.environ["BENCH_SLUG"]
Device = __import__(f"{SLUG}.devices.models", fromlist=["Device"]).Device
Attribute = __import__(f"{SLUG}.observations.models", fromlist=["Attribute"]).Attribute
vendor_client = __import__(f"{SLUG}.vendors.registry", fromlist=["vendor_client"]).vendor_client

devices = list(Device.objects.order_by("pk")[: int(os.environ["BENCH_REFERENCE_DEVICES"])])
client = vendor_client("simulator")
started = time.perf_counter()
for device in devices:
    (report,) = client.read_devices([device.vendor_device_id])
    for reading in report.readings:
        Attribute.objects.get_or_create(
            device=device,
            name=reading.name,
            valid_at=reading.valid_at,
            defaults={"value": reading.value, "units": reading.units},
        )
print(time.perf_counter() - started)
