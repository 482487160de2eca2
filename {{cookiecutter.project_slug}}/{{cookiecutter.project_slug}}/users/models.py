"""The project's own user model, in place from the first migration.

Django's `auth.User` cannot be swapped for a custom model once tables point at it: every
foreign key to it (`Device.owner`, `Command.requested_by`, tokens, sessions) would have to be
migrated by hand. Starting with a model of our own, identical for now, leaves room to add
fields (a phone number for alerts, a default dashboard) with an ordinary migration.
"""

from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """A person who signs in to the dashboard, the admin or the API."""


class SignInFailure(models.Model):
    """A failed sign-in, kept for one throttle window: users/throttling.py counts them."""

    address = models.CharField(
        max_length=64, blank=True, help_text="The client's address (IPv6: its /64 network)."
    )
    username = models.CharField(
        max_length=64, blank=True, help_text="A SHA-256 digest of the username tried."
    )
    failed_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["address", "failed_at"], name="signinfailure_address"),
            models.Index(fields=["username", "failed_at"], name="signinfailure_username"),
            models.Index(fields=["failed_at"], name="signinfailure_failed_at"),
        ]

    def __str__(self) -> str:
        return f"{self.address or 'unknown address'} at {self.failed_at:%Y-%m-%d %H:%M:%S}"
