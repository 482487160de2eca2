import factory

from ...devices.tests.factories import DeviceFactory
from ..models import Command


class CommandFactory(factory.django.DjangoModelFactory[Command]):
    class Meta:
        model = Command

    device = factory.SubFactory(DeviceFactory)
    is_on = True
