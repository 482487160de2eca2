"""Add a vendor: `manage.py startvendor "Shelly Cloud"`.

It writes vendors/shelly_cloud.py, a working client to change into the vendor's, and its
tests; adds the vendor's entry to settings.VENDORS and its variables to .env.example and
app.json (vendors/skeleton). Connecting the vendor is then editing the client and its tests.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ... import naming
from ...skeleton import NewVendor, SkeletonError, add_vendor

# The project's package, which holds the vendors package.
PACKAGE = __name__.split(".")[0]
# Longer names would push the lines of the new files' docstrings past ruff's line length.
MAX_VENDOR_NAME_LENGTH = 50


class Command(BaseCommand):
    help = (
        "Add a vendor: its client and tests, its entry in settings.VENDORS, and its variables in "
        ".env.example and app.json."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help='the vendor\'s name as people write it: "Shelly Cloud"')

    def handle(self, name: str, **options: Any) -> None:
        vendor = new_vendor(name)
        if vendor.module in settings.VENDORS:
            raise CommandError(
                f"{name!r} makes the module name {vendor.module!r}, which settings.VENDORS has "
                "already: give the new vendor another name."
            )
        try:
            written = add_vendor(settings.BASE_DIR, PACKAGE, vendor)
        except SkeletonError as error:
            raise CommandError(str(error)) from None
        client, test, *changed = written
        prefix = vendor.module.upper()
        self.stdout.write(
            f"Added {vendor.name}: module {vendor.module}, class {vendor.class_name}.\n"
            f"  {client}: its client, working against the example API\n"
            f"  {test}: its tests, on canned answers\n"
            f"  {', '.join(map(str, changed))}: its settings and variables\n"
            'Next: change the client and its tests where they say "VENDOR:", and set '
            f"{prefix}_API_URL and {prefix}_API_TOKEN in .env."
        )


def new_vendor(name: str) -> NewVendor:
    """The vendor's names, derived from `name` as the bake derived the first vendor's; a
    CommandError for a name that cannot make them."""
    if naming.UNSAFE_TEXT.search(name):
        raise CommandError(f"{name!r} contains a double quote, backslash or newline.")
    if len(name) > MAX_VENDOR_NAME_LENGTH:
        raise CommandError(
            f"{name!r} is longer than {MAX_VENDOR_NAME_LENGTH} characters: "
            "give the name people know the vendor by."
        )
    try:
        words = naming.ascii_words(name)
    except ValueError as error:
        raise CommandError(f"{error}: write the name in Latin letters.") from None
    if not words:
        raise CommandError(f"{name!r} has no letter or digit to make a module name of.")
    module = naming.vendor_module(name)
    return NewVendor(name=name.strip(), module=module, class_name=naming.vendor_class(module))
