"""Receive vendors' pushes from the MQTT broker until stopped: `manage.py consume_mqtt`.

The Procfile's `mqtt` process. It runs until SIGTERM (a dyno's restart, Ctrl-C locally), then
stores and acknowledges the messages it holds and exits 0; interactions/consumer.py says how
nothing is lost or stored twice meanwhile.
"""

from __future__ import annotations

import signal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from config.mqtt import BrokerURLError, broker_from_url, new_client

from ...consumer import Consumer, ConsumerStopped, StoringProcess, is_topic_filter, subscriptions


class Command(BaseCommand):
    help = "Receive the vendors' pushes from the MQTT broker at MQTT_URL, until stopped."
    # Only what the consumer needs: not the web's checks, which import every view.
    requires_system_checks = ["vendors"]

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            broker = broker_from_url(settings.MQTT_URL)
        except BrokerURLError as error:
            raise CommandError(str(error)) from None
        if settings.MQTT_BATCH_MESSAGES < 1 or settings.MQTT_BATCH_SECONDS <= 0:
            raise CommandError("MQTT_BATCH_MESSAGES and MQTT_BATCH_SECONDS must be above 0.")
        topics = subscriptions()
        if not topics:
            raise CommandError(
                "No vendor publishes to MQTT: set a vendor's MQTT topic setting, "
                "e.g. SIMULATOR_MQTT_TOPIC=simulator/pushes."
            )
        for topic, vendor in topics.items():
            if not is_topic_filter(topic):
                raise CommandError(
                    f"{vendor}'s MQTT topic {topic!r} is not a topic filter: '+' stands for a "
                    "whole level, '#' for the whole of the last one."
                )
        # First, before the broker's connection exists: the storing process is forked.
        storer = StoringProcess()
        try:
            client = new_client(broker, client_id=settings.MQTT_CLIENT_ID, manual_ack=True)
            consumer = Consumer(
                client,
                broker,
                topics,
                batch_messages=settings.MQTT_BATCH_MESSAGES,
                batch_seconds=settings.MQTT_BATCH_SECONDS,
                session_expiry=settings.MQTT_SESSION_EXPIRY_SECONDS,
                storer=storer,
            )
            signal.signal(signal.SIGTERM, consumer.stop)
            signal.signal(signal.SIGINT, consumer.stop)
            self.stdout.write(
                f"Receiving {', '.join(sorted(topics))} from {broker} as {settings.MQTT_CLIENT_ID}."
            )
            consumer.run()
        except ConsumerStopped as error:
            raise CommandError(str(error)) from None
        finally:
            storer.close()
        stored = consumer.stored
        self.stdout.write(
            f"Stopped: {stored.messages:,} messages stored ({stored.new_rows:,} new rows, "
            f"{stored.refused:,} refused)."
        )
