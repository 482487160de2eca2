#!/usr/bin/env python
"""Django's command-line utility: local settings on a laptop, production on a Heroku dyno
(config/startup.py)."""

import sys


def main() -> None:
    from config.startup import one_line_configuration_errors, use_default_settings

    use_default_settings()
    from django.core.management import execute_from_command_line

    with one_line_configuration_errors():
        execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
