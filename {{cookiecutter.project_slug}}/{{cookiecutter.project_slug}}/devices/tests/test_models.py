import pytest
from django.db import IntegrityError, transaction

from .factories import DeviceFactory

pytestmark = pytest.mark.django_db


def test_vendor_device_id_is_unique_per_vendor():
    DeviceFactory.create(vendor="simulator", vendor_device_id="plug-1")

    with pytest.raises(IntegrityError), transaction.atomic():
        DeviceFactory.create(vendor="simulator", vendor_device_id="plug-1")


def test_another_vendor_may_use_the_same_device_id():
    DeviceFactory.create(vendor="simulator", vendor_device_id="plug-1")
    other = DeviceFactory.create(vendor="{{ cookiecutter.__vendor_module }}", vendor_device_id="plug-1")

    assert other.pk is not None


def test_device_reads_as_its_name():
    assert str(DeviceFactory.create(name="Greenhouse heater")) == "Greenhouse heater"
