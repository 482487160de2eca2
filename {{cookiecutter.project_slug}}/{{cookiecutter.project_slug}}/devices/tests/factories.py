import factory
from django.conf import settings

from ..models import Device


# No type parameter: its model is whichever AUTH_USER_MODEL names.
class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = settings.AUTH_USER_MODEL
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"person{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.django.Password("a-long-test-password")


class DeviceFactory(factory.django.DjangoModelFactory[Device]):
    class Meta:
        model = Device

    name = factory.Sequence(lambda n: f"Device {n}")
    location = factory.Faker("city")
    vendor = "simulator"
    vendor_device_id = factory.Sequence(lambda n: f"sim-{n:04d}")
