"""Seal users' names, national ids and phones under each user's data key; drop the clear columns.

Existing values are encrypted in place (and decrypted back if the migration is reversed), so an
upgraded instance keeps every profile, readable only through identity/access.py.
"""

from django.db import migrations, models

FIELDS = ("full_name", "national_id", "phone")


def seal(apps, schema_editor):
    from guichet.vault.service import encrypt_field, owner_for

    User = apps.get_model("identity", "User")
    for user in User.objects.all().iterator():
        for name in FIELDS:
            value = getattr(user, name)
            sealed = (
                encrypt_field(owner_for("user", user.pk), user.pk, name, value) if value else None
            )
            setattr(user, f"{name}_sealed", sealed)
        user.save(update_fields=[f"{name}_sealed" for name in FIELDS])


def unseal(apps, schema_editor):
    from guichet.vault.service import decrypt_text, owner_for

    User = apps.get_model("identity", "User")
    for user in User.objects.all().iterator():
        for name in FIELDS:
            sealed = getattr(user, f"{name}_sealed")
            value = (
                decrypt_text(owner_for("user", user.pk), user.pk, name, sealed) if sealed else ""
            )
            setattr(user, name, value)
        user.save(update_fields=list(FIELDS))


class Migration(migrations.Migration):
    dependencies = [
        ("identity", "0001_initial"),
        ("vault", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="user",
            name="closed_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="user",
            name="full_name_sealed",
            field=models.BinaryField(editable=False, null=True),
        ),
        migrations.AddField(
            model_name="user",
            name="national_id_sealed",
            field=models.BinaryField(editable=False, null=True),
        ),
        migrations.AddField(
            model_name="user",
            name="phone_sealed",
            field=models.BinaryField(editable=False, null=True),
        ),
        migrations.RunPython(seal, unseal, elidable=False),
        migrations.RemoveField(model_name="user", name="full_name"),
        migrations.RemoveField(model_name="user", name="national_id"),
        migrations.RemoveField(model_name="user", name="phone"),
    ]
