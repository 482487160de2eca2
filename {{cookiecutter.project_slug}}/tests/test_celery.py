import logging
import ssl
import threading
import time
from types import SimpleNamespace

import pytest
from celery.app.defaults import DEFAULTS
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured

from config import celery_app
from config.celery import visibility_timeout_problem
from {{ cookiecutter.project_slug }}.interactions.schedule import periodic_jobs

# What keeps delivery safe: late acks, one task prefetched, time limits, no results kept.
DELIVERY_POLICY = (
    "task_acks_late",
    "task_reject_on_worker_lost",
    "worker_prefetch_multiplier",
    "worker_cancel_long_running_tasks_on_connection_loss",
    "task_soft_time_limit",
    "task_time_limit",
    "task_ignore_result",
    "task_default_queue",
)


def test_celery_takes_its_delivery_policy_from_django(settings):
    for name in DELIVERY_POLICY:
        ours = getattr(settings, f"CELERY_{name.upper()}")
        # Each differs from Celery's own default (JSON does not), so only Django's settings
        # can have set it.
        assert ours != DEFAULTS[name], name
        assert celery_app.conf[name] == ours, name


def test_without_redis_url_tasks_run_in_process(settings_module):
    assert settings_module("config.settings.local").CELERY_TASK_ALWAYS_EAGER is True


def test_redis_url_sends_tasks_to_redis(settings_module):
    local = settings_module("config.settings.local", REDIS_URL="redis://localhost:6379/0")

    assert local.CELERY_BROKER_URL == "redis://localhost:6379/0"
    assert local.CELERY_TASK_ALWAYS_EAGER is False


def test_tasks_run_in_process_without_a_warning_about_the_broker(settings_module, caplog):
    # Running a task in-process still takes a broker connection, for which kombu warns "No
    # hostname was supplied" (in every command that sends a task) when the URL names none.
    local = settings_module("config.settings.local")

    with caplog.at_level(logging.WARNING, logger="kombu"):
        celery_app.connection_for_write(local.CELERY_BROKER_URL).info()

    assert [record.getMessage() for record in caplog.records] == []


def test_rediss_url_turns_on_tls_for_broker_results_and_cache(settings_module):
    local = settings_module(
        "config.settings.local",
        REDIS_URL="rediss://redis.example.com:6380/0",
        REDIS_SSL_CERT_REQS="none",
    )

    tls = {"ssl_cert_reqs": ssl.CERT_NONE}
    assert local.CELERY_BROKER_USE_SSL == local.CELERY_REDIS_BACKEND_USE_SSL == tls
    assert local.CACHES["default"]["OPTIONS"] == tls


def test_an_unknown_certificate_check_is_refused_in_one_line(settings_module):
    with pytest.raises(ImproperlyConfigured, match=r"^REDIS_SSL_CERT_REQS='no': give one of "):
        settings_module(
            "config.settings.local",
            REDIS_URL="rediss://redis.example.com:6380/0",
            REDIS_SSL_CERT_REQS="no",
        )


def test_a_visibility_timeout_shorter_than_a_task_can_take_is_refused():
    conf = celery_app.conf
    broker = {"broker_url": "redis://localhost:6379/0", "task_time_limit": 90}

    too_short = visibility_timeout_problem(
        SimpleNamespace(**broker, broker_transport_options={"visibility_timeout": 300}), 300
    )
    long_enough = visibility_timeout_problem(
        SimpleNamespace(**broker, broker_transport_options={"visibility_timeout": 3600}), 300
    )

    assert too_short is not None
    assert too_short.startswith("Redis visibility_timeout (300 s) must exceed")
    assert long_enough is None
    assert visibility_timeout_problem(conf, 300) is None  # the in-memory broker has none


def test_beat_schedules_every_periodic_job_to_expire_within_its_interval():
    celery_app.finalize()  # as `celery beat` does before it reads the schedule
    schedule = celery_app.conf.beat_schedule

    jobs = periodic_jobs()
    assert set(schedule) == {job.name for job in jobs}
    for job in jobs:
        entry = schedule[job.name]
        assert entry["schedule"].run_every == job.every, job.name
        assert entry["options"]["expires"] <= job.every.total_seconds(), job.name
    assert schedule["refresh_all"]["options"]["expires"] == 60


def test_every_beat_entry_names_a_task_the_worker_knows():
    celery_app.finalize()  # as the worker does before it takes its first message

    for name, entry in celery_app.conf.beat_schedule.items():
        assert entry["task"] in celery_app.tasks, name
        assert entry["task"] == f"interactions.{name}"  # the names queued messages carry


@pytest.mark.parametrize("eager", [True, False])
def test_the_dev_server_says_in_one_line_when_tasks_run_in_process(
    eager, settings, monkeypatch, capsys
):
    # CELERY_TASK_ALWAYS_EAGER follows REDIS_URL (tested above); RUN_MAIN is how runserver's
    # autoreloader marks the process that serves requests.
    settings.CELERY_TASK_ALWAYS_EAGER = eager
    monkeypatch.setenv("RUN_MAIN", "true")

    apps.get_app_config("interactions").ready()

    notice = capsys.readouterr().err.splitlines()
    assert notice == (
        [
            "Tasks run in-process because REDIS_URL is unset; set it in .env "
            "(REDIS_URL=redis://127.0.0.1:6379/0) and run `make dev` to use a worker and beat."
        ]
        if eager
        else []
    )


def test_the_worker_pool_lets_a_cold_shutdown_cancel_its_running_tasks():
    # On Heroku, SIGTERM is a cold shutdown, which cancels each running task through
    # terminate_job; Celery's own thread pool raises there, a CRITICAL at every deploy.
    from celery.concurrency import get_implementation
    from celery.concurrency.thread import TaskPool as CeleryThreadPool

    pool = get_implementation(celery_app.conf.worker_pool)(limit=1)
    try:
        pool.terminate_job(pid=1, signal=15)
        assert isinstance(pool, CeleryThreadPool)
        with pytest.raises(NotImplementedError):
            CeleryThreadPool(limit=1).terminate_job(pid=1, signal=15)
    finally:
        pool.stop()


def test_a_cold_shutdown_that_interrupts_a_task_hand_over_stops_the_pool_all_the_same():
    # Celery stops the pool from the SIGTERM handler, on the main thread; the signal may land
    # while that thread is inside the executor's submit(), which holds the lock stopping takes.
    from celery.concurrency import get_implementation

    pool = get_implementation(celery_app.conf.worker_pool)(limit=1)
    adjust_thread_count = pool.executor._adjust_thread_count  # called by submit(), locked
    ran = threading.Event()

    def interrupted_by_the_signal():
        pool.stop()
        adjust_thread_count()

    pool.executor._adjust_thread_count = interrupted_by_the_signal
    hand_over = threading.Thread(target=pool.apply_async, args=(ran.set,), daemon=True)
    hand_over.start()
    hand_over.join(timeout=10)

    assert not hand_over.is_alive(), "the worker waits on itself"
    # The task handed over still runs, and the pool stops once the hand-over let go.
    assert ran.wait(timeout=10)
    for stopping in threading.enumerate():
        if stopping.name == "pool-stop":
            stopping.join(timeout=10)
    assert pool.executor._shutdown


def test_a_cold_shutdown_stops_the_pool_while_a_task_waits_for_the_interrupted_thread():
    # The signal may land while the main thread holds a lock a running task needs next: a log
    # handler's, say, as the task is about to log its end. Stopping must not wait for it there.
    from celery.concurrency import get_implementation

    pool = get_implementation(celery_app.conf.worker_pool)(limit=1)
    held_by_the_main_thread = threading.Lock()
    running, ended = threading.Event(), threading.Event()

    def task():
        running.set()
        with held_by_the_main_thread:
            time.sleep(0.5)  # the rest of its work
            ended.set()

    with held_by_the_main_thread:
        pool.apply_async(task)
        assert running.wait(timeout=10)
        signal_handler = threading.Thread(target=pool.stop, daemon=True)
        signal_handler.start()
        signal_handler.join(timeout=10)
        assert not signal_handler.is_alive(), "the worker waits on itself"
    # Out of the handler, the worker closes its pool before its broker connection: closing
    # waits for the task, whose message is then acknowledged rather than handed on.
    pool.close()
    assert ended.is_set()
    assert pool.executor._shutdown


def test_a_task_handed_over_after_the_pool_stopped_is_left_for_the_next_worker():
    # The cold shutdown stops the pool while messages may still be on their way to it.
    from celery.concurrency import get_implementation

    pool = get_implementation(celery_app.conf.worker_pool)(limit=1)
    pool.stop()
    ran = threading.Event()

    assert pool.apply_async(ran.set) is None  # unacknowledged: Redis hands it on
    assert not ran.is_set()


{%- if cookiecutter.use_sentry %}


def test_sentry_watches_each_beat_entry_with_a_crons_monitor(monkeypatch):
    from sentry_sdk.integrations.celery import CeleryIntegration

    from config import sentry

    options = {}
    monkeypatch.setattr(sentry.sentry_sdk, "init", lambda **given: options.update(given))

    sentry.init_sentry(dsn="https://public@sentry.example.com/1", environment="test")

    (celery,) = [i for i in options["integrations"] if isinstance(i, CeleryIntegration)]
    assert celery.monitor_beat_tasks is True
{%- endif %}
