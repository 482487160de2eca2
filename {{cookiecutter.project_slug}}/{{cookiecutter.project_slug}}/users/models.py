"""The project's own user model, in place from the first migration.

Django's `auth.User` cannot be swapped for a custom model once tables point at it: every
foreign key to it (`Device.owner`, `Command.requested_by`, tokens, sessions) would have to be
migrated by hand. Starting with a model of our own, identical for now, leaves room to add
fields (a phone number for alerts, a default dashboard) with an ordinary migration.
"""

from django.contrib.auth.models import AbstractUser


class User(AbstractUser):
    """A person who signs in to the dashboard, the admin or the API."""
