from django.apps import AppConfig
from django.contrib.auth.signals import user_login_failed


class UsersConfig(AppConfig):
    name = "{{ cookiecutter.project_slug }}.users"
    verbose_name = "Users"

    def ready(self) -> None:
        from .throttling import record_failure

        user_login_failed.connect(record_failure, dispatch_uid="users.record_failure")
