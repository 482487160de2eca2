"""Send a test alert the way every ERROR log is sent: `manage.py send_test_alert`.

Run it on the day of a deploy (`heroku run python manage.py send_test_alert`): where a real
alert would vanish without a word, it fails with the mail server's answer.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from config.alerts import raising_failures, why_alerts_are_not_mailed

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Log a test ERROR, which is mailed to ADMINS as every ERROR is; fail if it cannot be."

    def handle(self, **options: Any) -> None:
        problem = why_alerts_are_not_mailed()
        if problem:
            raise CommandError(problem)
        try:
            with raising_failures():
                logger.error("Test alert from manage.py send_test_alert: ERROR logs reach you.")
        except OSError as error:  # smtplib's errors included
            raise CommandError(f"The test alert was not sent: {error}") from None
        recipients = ", ".join(address for _, address in settings.ADMINS)
        self.stdout.write(f"Test alert sent to {recipients} through {settings.EMAIL_BACKEND}.")
