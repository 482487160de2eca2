"""Sphinx configuration for the template's documentation; pages are Markdown (MyST)."""

project = "cookiecutter-django-iot"
author = "cookiecutter-django-iot contributors"
copyright = f"2026, {author}"

extensions = ["myst_parser"]
myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build"]

html_theme = "furo"
html_title = project
