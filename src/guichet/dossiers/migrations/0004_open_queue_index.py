# The open-queue index (issue 7): the agent's default queue read in index order at any volume.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("dossiers", "0003_seal_personal_data"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="dossier",
            index=models.Index(
                condition=models.Q(
                    ("due_at__isnull", False),
                    ("state__in", ["submitted", "in_review", "changes_requested"]),
                ),
                fields=["organisation", "due_at", "id"],
                name="dossier_open_queue",
            ),
        ),
    ]
