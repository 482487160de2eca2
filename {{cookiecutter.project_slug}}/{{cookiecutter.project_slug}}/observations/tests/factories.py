from datetime import timedelta

import factory
from django.utils import timezone

from ...devices.tests.factories import DeviceFactory
from ..models import Attribute, Status


class AttributeFactory(factory.django.DjangoModelFactory[Attribute]):
    class Meta:
        model = Attribute

    device = factory.SubFactory(DeviceFactory)
    name = "temperature"
    value = factory.Faker("pyfloat", min_value=15, max_value=30, right_digits=1)
    units = "°C"
    # A minute apart, so that readings of one device never collide by accident.
    valid_at = factory.Sequence(lambda n: timezone.now() - timedelta(minutes=n))


class StatusFactory(factory.django.DjangoModelFactory[Status]):
    class Meta:
        model = Status

    device = factory.SubFactory(DeviceFactory)
    is_on = True
    state = "on"
    valid_at = factory.Sequence(lambda n: timezone.now() - timedelta(minutes=n))
