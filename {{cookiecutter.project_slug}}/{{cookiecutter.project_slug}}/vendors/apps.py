from django.apps import AppConfig


class VendorsConfig(AppConfig):
    name = "{{ cookiecutter.project_slug }}.vendors"
    verbose_name = "Vendors"
