from config import celery_app


def test_celery_takes_its_settings_from_django():
    assert celery_app.conf.task_serializer == "json"
    assert celery_app.conf.accept_content == ["json"]


def test_without_redis_url_tasks_run_in_process(settings_in_fresh_process):
    result = settings_in_fresh_process("config.settings.local", "settings.CELERY_TASK_ALWAYS_EAGER")

    assert result.stdout.strip() == "True", result.stderr


def test_redis_url_sends_tasks_to_redis(settings_in_fresh_process):
    result = settings_in_fresh_process(
        "config.settings.local",
        "(settings.CELERY_BROKER_URL, settings.CELERY_TASK_ALWAYS_EAGER)",
        REDIS_URL="redis://localhost:6379/0",
    )

    assert result.stdout.strip() == "('redis://localhost:6379/0', False)", result.stderr
