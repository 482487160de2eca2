# Joins the two migrations written side by side: commands a vendor accepts without echo, and the
# alert about devices their vendor reports offline. Neither touches what the other does.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("interactions", "0007_alert_devices_offline"),
        ("interactions", "0007_command_accepted"),
    ]

    operations = []
