import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("observations", "0002_latest"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Export",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "device_ids",
                    models.JSONField(help_text="The devices whose readings it holds, in order."),
                ),
                (
                    "names",
                    models.JSONField(
                        blank=True, default=list, help_text="Reading names; none: all."
                    ),
                ),
                ("since", models.DateTimeField()),
                ("until", models.DateTimeField()),
                (
                    "request_key",
                    models.CharField(
                        help_text="A digest of what was asked: the same request finds this export.",
                        max_length=64,
                    ),
                ),
                (
                    "state",
                    models.CharField(
                        choices=[
                            ("queued", "Queued"),
                            ("running", "Running"),
                            ("succeeded", "Succeeded"),
                            ("failed", "Failed"),
                        ],
                        default="queued",
                        max_length=10,
                    ),
                ),
                (
                    "rows",
                    models.PositiveBigIntegerField(default=0, help_text="Readings written so far."),
                ),
                ("error", models.TextField(blank=True)),
                (
                    "next_device",
                    models.PositiveIntegerField(default=0, help_text="An index in device_ids."),
                ),
                ("after_name", models.CharField(blank=True, max_length=50)),
                ("after_valid_at", models.DateTimeField(blank=True, null=True)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                (
                    "owner",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="exports",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at"],
            },
        ),
        migrations.CreateModel(
            name="ExportPart",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "first_row",
                    models.PositiveBigIntegerField(help_text="How many readings come before it."),
                ),
                ("text", models.TextField()),
                (
                    "export",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="parts",
                        to="observations.export",
                    ),
                ),
            ],
        ),
        migrations.AddIndex(
            model_name="export",
            index=models.Index(
                fields=["owner", "request_key", "created_at"], name="export_by_request"
            ),
        ),
        migrations.AddConstraint(
            model_name="exportpart",
            constraint=models.UniqueConstraint(
                fields=("export", "first_row"), name="export_part_once"
            ),
        ),
    ]
