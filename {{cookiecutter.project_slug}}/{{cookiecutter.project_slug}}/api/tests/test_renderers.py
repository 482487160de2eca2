from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.utils.translation import gettext_lazy
from rest_framework import renderers

from ..renderers import JSONRenderer

ANSWER = {
    "utc": datetime(2026, 1, 15, 12, 0, tzinfo=UTC),
    "utc_zone": datetime(2026, 1, 15, 12, 0, 0, 500, tzinfo=ZoneInfo("UTC")),
    "elsewhere": datetime(2026, 7, 1, 8, 30, 15, 123456, tzinfo=ZoneInfo("America/St_Johns")),
    "text": 'Température \u2028 next line \u2029 next paragraph, "quoted"',
    "lazy": gettext_lazy("Not found."),
    "decimal": Decimal("1.50"),
    "numbers": [1, 2.5, 1e100, -0.0, True, None],
    "nested": {"empty": [], "nothing": {}},
}


def test_writes_byte_for_byte_what_drfs_renderer_writes():
    assert JSONRenderer().render(ANSWER) == renderers.JSONRenderer().render(ANSWER)


def test_indents_when_asked_as_drf_does():
    media_type = "application/json; indent=2"

    indented = JSONRenderer().render(ANSWER, media_type)

    assert indented == renderers.JSONRenderer().render(ANSWER, media_type)
    assert b'\n  "utc"' in indented


def test_no_data_is_an_empty_body():
    assert JSONRenderer().render(None) == b""
