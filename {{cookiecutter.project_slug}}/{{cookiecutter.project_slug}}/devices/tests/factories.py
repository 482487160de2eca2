import factory

from ..models import Device


class DeviceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Device

    name = factory.Sequence(lambda n: f"Device {n}")
    location = factory.Faker("city")
    vendor = "simulator"
    vendor_device_id = factory.Sequence(lambda n: f"sim-{n:04d}")
