"""The variants the template is proven with: each scheduler with its options all on and all
off, each license at least once, and names that stress the rendering."""

CELERY_ALL_ON = {
    "scheduler": "celery-beat",
    "use_sentry": True,
    "use_flower": True,
    "use_mqtt": True,
    "ci": "github",
    "open_source_license": "MIT",
}
CELERY_ALL_OFF = {
    "scheduler": "celery-beat",
    "use_sentry": False,
    "use_flower": False,
    "use_mqtt": False,
    "ci": "none",
    "open_source_license": "Not open source",
}
SCHEDULER_ALL_ON = {
    "scheduler": "heroku-scheduler",
    "use_sentry": True,
    "use_flower": False,  # Flower needs Celery
    "use_mqtt": True,
    "ci": "github",
    "open_source_license": "BSD-3-Clause",
}
SCHEDULER_ALL_OFF = {
    "scheduler": "heroku-scheduler",
    "use_sentry": False,
    "use_flower": False,
    "use_mqtt": False,
    "ci": "none",
    "open_source_license": "Apache-2.0",
}
# The longest slug the hook allows, typed; a non-UTC zone and an apostrophe in the names.
LONG_NAMES = {
    "project_name": "O'Neill's greenhouse and garage automation kit",
    "project_slug": "oneills_greenhouse_and_garage_automation",
    "author_name": "Siobhán O'Neill",
    "vendor_name": "Bright-Home Cloud Platform Ltd",  # the longest module name allowed
    "timezone": "America/Argentina/Buenos_Aires",
}
# No slug: the package, the vendor's module and its class are derived from names with accents,
# punctuation, a leading digit and more words than fit.
DERIVED_NAMES = {
    "project_name": "3D Printer Farm (Zürich) Gewächshaus Überwachung",
    "author_name": "Zoë Ångström",
    "vendor_name": "Acme (EU) Cloud Services GmbH & Co. KG",
    "timezone": "Europe/Zurich",
}

RENDER_MATRIX = {
    "celery-beat-all-on": CELERY_ALL_ON,
    "celery-beat-all-off": CELERY_ALL_OFF,
    "heroku-scheduler-all-on": SCHEDULER_ALL_ON,
    "heroku-scheduler-all-off": SCHEDULER_ALL_OFF,
    "long-names": LONG_NAMES,
    "derived-names": DERIVED_NAMES,
}
# Each scheduler's suite runs with its options on, so the optional modules are exercised too;
# one with derived names, so a package, vendor module and class that nobody typed are tested.
BAKED_SUITES = {
    "celery-beat": CELERY_ALL_ON,
    "heroku-scheduler": SCHEDULER_ALL_ON | DERIVED_NAMES,
}
