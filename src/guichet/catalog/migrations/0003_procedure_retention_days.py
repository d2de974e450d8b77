from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0002_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="procedure",
            name="retention_days",
            field=models.PositiveIntegerField(
                default=1825, verbose_name="retention after the decision (days)"
            ),
        ),
    ]
