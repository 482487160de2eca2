"""How a vendor's display name becomes its module and class names (Acme Cloud -> acme_cloud,
AcmeCloudClient), for `manage.py startvendor`.

The rules below are the template's own, copied from its pre-gen hook when this project was
baked, so the next vendors are named as the first one was. The hook spells any script in ASCII
(温 -> wen) with a library the project does not need; here only accents are taken off
(Zürich -> zurich), and a name with any other character beyond ASCII is refused: it would
rarely make a module name a person would guess, and they can type it in Latin letters.
"""

from __future__ import annotations

import keyword
import re
import sys
import unicodedata


def to_ascii(text: str) -> str:
    """text without its accents; ValueError when a character beyond ASCII remains."""
    decomposed = unicodedata.normalize("NFKD", text)
    ascii_text = "".join(char for char in decomposed if not unicodedata.combining(char))
    if not ascii_text.isascii():
        beyond = "".join(dict.fromkeys(char for char in ascii_text if not char.isascii()))
        raise ValueError(f"{text!r} has characters without a plain ASCII spelling ({beyond})")
    return ascii_text


{{ pre_gen_hook_definitions("PROJECT_IMPORTS", "RESERVED_VENDOR_MODULES") }}
{%- if cookiecutter.scheduler == "celery-beat" %}
{{ pre_gen_hook_definitions("SCHEDULER_IMPORTS", "SCHEDULER_VENDOR_MODULES") }}
{%- else %}
# Heroku Scheduler runs the project's commands: it adds no import and no module.
SCHEDULER_IMPORTS: frozenset[str] = frozenset()
SCHEDULER_VENDOR_MODULES: frozenset[str] = frozenset()
{%- endif %}
{%- if cookiecutter.use_mqtt %}
{{ pre_gen_hook_definitions("MQTT_IMPORTS", "MQTT_VENDOR_MODULES") }}
OPTIONAL_IMPORTS = SCHEDULER_IMPORTS | MQTT_IMPORTS
OPTIONAL_VENDOR_MODULES = SCHEDULER_VENDOR_MODULES | MQTT_VENDOR_MODULES
{%- else %}
OPTIONAL_IMPORTS = SCHEDULER_IMPORTS
OPTIONAL_VENDOR_MODULES = SCHEDULER_VENDOR_MODULES
{%- endif %}

{{ pre_gen_hook_definitions("TAKEN_VENDOR_MODULES") }}

{{ pre_gen_hook_definitions(
    "IDENTIFIER",
    "MAX_VENDOR_MODULE_LENGTH",
    "PREFIX",
    "WORD",
    "UNSAFE_TEXT",
    "shadowed_import",
    "name_problem",
    "ascii_words",
    "joined",
    "derived_name",
    "vendor_module",
    "vendor_class",
) }}
