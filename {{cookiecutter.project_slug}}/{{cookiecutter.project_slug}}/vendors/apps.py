from django.apps import AppConfig
from django.core import checks


class VendorsConfig(AppConfig):
    name = "{{ cookiecutter.project_slug }}.vendors"
    verbose_name = "Vendors"

    def ready(self) -> None:
        from .checks import required_vendor_settings

        checks.register(required_vendor_settings, "vendors")
