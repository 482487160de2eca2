"""How long to wait before reading a vendor again after an error that passes: the one backoff
of every retry{% if cookiecutter.scheduler == "celery-beat" %} (a task's, and refresh_all's own when run_job runs it){% else %} (refresh_all's, within its run){% endif %}."""

from __future__ import annotations

import random

from django.conf import settings


def retry_delay(retries: int, retry_after: float | None) -> float:
    """Seconds before retry number `retries + 1`.

{%- if cookiecutter.scheduler == "celery-beat" %}
    Full jitter spreads retries of many batches apart; the cap keeps every delay shorter than
    Redis's visibility timeout, beyond which a waiting task would be delivered twice.
{%- else %}
    Full jitter spreads retries of many calls apart; the cap keeps a run of run_job within
    its interval.
{%- endif %}
    """
    cap = settings.VENDOR_RETRY_MAX_DELAY
    backoff = random.uniform(0, min(cap, settings.VENDOR_RETRY_BASE_DELAY * 2**retries))
    return min(cap, max(backoff, retry_after or 0))
