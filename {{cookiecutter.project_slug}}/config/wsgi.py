"""WSGI entry point for gunicorn: `gunicorn config.wsgi --preload`.

Loaded before gunicorn forks (--preload), so a setting that is missing stops gunicorn with
one line instead of failing every worker it starts.
"""

from django.core.wsgi import get_wsgi_application

from config.startup import (
    one_line_configuration_errors,
    refuse_to_start_unless_checks_pass,
    use_default_settings,
)

use_default_settings()
with one_line_configuration_errors():
    application = get_wsgi_application()
refuse_to_start_unless_checks_pass("web")
