"""Request bodies: a bad one is a 4xx with a one-line message, never a 500.

DRF's own JSON parser lets RecursionError through, a 500 for a deeply nested body; and a body
beyond DATA_UPLOAD_MAX_MEMORY_SIZE would be Django's HTML 400, not the API's JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from rest_framework import parsers, status, views
from rest_framework.exceptions import APIException, ParseError
from rest_framework.response import Response

from ..safejson import UnsafeJSON, loads


class JSONParser(parsers.JSONParser):
    def parse(
        self,
        stream: IO[Any],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            return loads(stream.read().decode(encoding))
        except UnicodeDecodeError:
            raise ParseError(f"JSON parse error - the body is not {encoding} text.") from None
        except UnsafeJSON as error:
            raise ParseError(f"JSON parse error - {error}.") from None


class BodyTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "body_too_large"


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's, answering a body beyond DATA_UPLOAD_MAX_MEMORY_SIZE with a 413 in JSON."""
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        exc = BodyTooLarge(
            f"The body is larger than {limit:,} bytes (DATA_UPLOAD_MAX_MEMORY_SIZE)."
        )
    return views.exception_handler(exc, context)
