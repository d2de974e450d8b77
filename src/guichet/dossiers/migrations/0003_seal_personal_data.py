"""Seal dossiers' personal data under each dossier's data key; blind indexes; retention fields.

Existing answers, attachment names and files, history comments and actors' names, messages and
their authors' names are encrypted in place (and decrypted back if the migration is reversed),
the blind indexes of existing answers are built, closed_at is filled in for dossiers already in
a final state, and the clear columns are dropped. Files are rewritten encrypted beside the clear
ones; the clear files are deleted only once the migration has committed.
"""

import contextlib
import uuid

import django.db.models.deletion
from django.db import migrations, models, transaction

FINAL = ("accepted", "rejected", "withdrawn")
INDEX_KINDS = ("national_id", "email", "phone")


def _index_kind(spec):
    if spec.get("index") in INDEX_KINDS:
        return spec["index"]
    if spec.get("type") in ("email", "phone"):
        return spec["type"]
    if spec.get("name") == "national_id" and spec.get("type") == "text":
        return "national_id"
    return None


def _reindex(DossierIndex, dossier, form, answers):
    from guichet.vault.service import InvalidIndexValue, blind_index

    rows = set()
    for spec in form:
        kind = _index_kind(spec)
        value = answers.get(spec.get("name"))
        if kind and isinstance(value, str) and value:
            with contextlib.suppress(InvalidIndexValue):
                rows.add((kind, blind_index(kind, value)))
    DossierIndex.objects.bulk_create(
        DossierIndex(dossier=dossier, kind=kind, digest=digest) for kind, digest in rows
    )


def _closed_at(DossierEvent, dossier):
    if dossier.state not in FINAL:
        return None
    last = (
        DossierEvent.objects.filter(dossier=dossier, to_state=dossier.state)
        .order_by("-at")
        .values_list("at", flat=True)
        .first()
    )
    return dossier.decided_at or last or dossier.updated_at


def _rewrite_files(Attachment, transform):
    """Write each attachment's file anew through `transform`, then drop the old file on commit."""
    from django.core.files.storage import default_storage

    old_names = []
    for attachment in Attachment.objects.all().iterator():
        old = str(attachment.file.name)
        if not old or not default_storage.exists(old):
            continue
        with default_storage.open(old, "rb") as source:
            new = default_storage.save(
                f"{old}-{uuid.uuid4().hex[:8]}", transform(attachment, source)
            )
        Attachment.objects.filter(pk=attachment.pk).update(file=new)
        old_names.append(old)
    transaction.on_commit(lambda: [default_storage.delete(name) for name in old_names])


def seal(apps, schema_editor):
    from guichet.vault.service import encrypt_field, encrypt_json, owner_for, seal_attachment

    Dossier = apps.get_model("dossiers", "Dossier")
    DossierEvent = apps.get_model("dossiers", "DossierEvent")
    DossierIndex = apps.get_model("dossiers", "DossierIndex")
    Attachment = apps.get_model("dossiers", "Attachment")
    Message = apps.get_model("dossiers", "Message")

    for dossier in Dossier.objects.select_related("procedure").iterator():
        owner = owner_for("dossier", dossier.pk)
        answers = dossier.data or {}
        dossier.answers_sealed = encrypt_json(owner, dossier.pk, "answers", answers)
        dossier.closed_at = _closed_at(DossierEvent, dossier)
        dossier.save(update_fields=["answers_sealed", "closed_at"])
        _reindex(DossierIndex, dossier, dossier.procedure.form or [], answers)
    # The applicant's name is no longer copied into the history and the thread (it is shown
    # from their sealed profile); agents' names stay, in clear, as before.
    for event in DossierEvent.objects.iterator():
        owner = owner_for("dossier", event.dossier_id)
        event.uid = uuid.uuid4()
        if not event.by_administration:
            event.actor_name = ""
        event.comment_sealed = (
            encrypt_field(owner, event.uid, "comment", event.comment) if event.comment else None
        )
        event.save(update_fields=["uid", "actor_name", "comment_sealed"])
    for message in Message.objects.iterator():
        owner = owner_for("dossier", message.dossier_id)
        if not message.from_administration:
            message.author_name = ""
        message.body_sealed = encrypt_field(owner, message.pk, "body", message.body)
        message.save(update_fields=["author_name", "body_sealed"])
    for attachment in Attachment.objects.iterator():
        owner = owner_for("dossier", attachment.dossier_id)
        attachment.name_sealed = encrypt_field(
            owner, attachment.pk, "name", attachment.original_name
        )
        attachment.save(update_fields=["name_sealed"])
    _rewrite_files(
        Attachment,
        lambda a, source: seal_attachment(
            owner_for("dossier", a.dossier_id), a.pk, "file", source, a.pk.hex
        ),
    )


def _applicant_name(user):
    from guichet.vault.service import decrypt_text, owner_for

    if user.full_name_sealed is None:
        return user.email
    return decrypt_text(owner_for("user", user.pk), user.pk, "full_name", user.full_name_sealed)


def unseal(apps, schema_editor):
    from django.core.files.base import ContentFile

    from guichet.vault.service import decrypt_json, decrypt_text, iter_decrypted, owner_for

    Dossier = apps.get_model("dossiers", "Dossier")
    DossierEvent = apps.get_model("dossiers", "DossierEvent")
    Attachment = apps.get_model("dossiers", "Attachment")
    Message = apps.get_model("dossiers", "Message")

    for dossier in Dossier.objects.iterator():
        if dossier.answers_sealed is not None:
            owner = owner_for("dossier", dossier.pk)
            dossier.data = decrypt_json(owner, dossier.pk, "answers", dossier.answers_sealed)
            dossier.save(update_fields=["data"])
    applicants = {
        dossier.pk: _applicant_name(dossier.applicant)
        for dossier in Dossier.objects.select_related("applicant").iterator()
    }
    for event in DossierEvent.objects.iterator():
        owner = owner_for("dossier", event.dossier_id)
        if not event.by_administration:
            event.actor_name = applicants[event.dossier_id]
        if event.comment_sealed is not None:
            event.comment = decrypt_text(owner, event.uid, "comment", event.comment_sealed)
        event.save(update_fields=["actor_name", "comment"])
    for message in Message.objects.iterator():
        owner = owner_for("dossier", message.dossier_id)
        if not message.from_administration:
            message.author_name = applicants[message.dossier_id]
        message.body = decrypt_text(owner, message.pk, "body", message.body_sealed)
        message.save(update_fields=["author_name", "body"])
    for attachment in Attachment.objects.iterator():
        owner = owner_for("dossier", attachment.dossier_id)
        attachment.original_name = decrypt_text(
            owner, attachment.pk, "name", attachment.name_sealed
        )
        attachment.save(update_fields=["original_name"])
    _rewrite_files(
        Attachment,
        lambda a, source: ContentFile(
            b"".join(iter_decrypted(source, owner_for("dossier", a.dossier_id), a.pk, "file"))
        ),
    )


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0003_procedure_retention_days"),
        ("dossiers", "0002_initial"),
        ("identity", "0002_seal_profile"),
        ("vault", "0001_initial"),
    ]

    operations = [
        # Defaults on the clear columns, so that reversing re-adds them to existing rows.
        migrations.AlterField(
            model_name="attachment",
            name="original_name",
            field=models.CharField(default="", max_length=255),
        ),
        migrations.AlterField(
            model_name="dossierevent",
            name="actor_name",
            field=models.CharField(blank=True, max_length=200),
        ),
        migrations.AlterField(
            model_name="message",
            name="author_name",
            field=models.CharField(blank=True, max_length=200),
        ),
        migrations.AlterField(
            model_name="message", name="body", field=models.TextField(default="")
        ),
        migrations.AddField(
            model_name="dossier",
            name="answers_sealed",
            field=models.BinaryField(editable=False, null=True),
        ),
        migrations.AddField(
            model_name="dossier",
            name="closed_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="dossier",
            name="retention_notified_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="attachment",
            name="name_sealed",
            field=models.BinaryField(editable=False, null=True),
        ),
        migrations.AddField(
            model_name="dossierevent",
            name="uid",
            field=models.UUIDField(editable=False, null=True),
        ),
        migrations.AddField(
            model_name="dossierevent",
            name="comment_sealed",
            field=models.BinaryField(editable=False, null=True),
        ),
        migrations.AddField(
            model_name="message",
            name="body_sealed",
            field=models.BinaryField(editable=False, null=True),
        ),
        migrations.CreateModel(
            name="DossierIndex",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("national_id", "National identification number"),
                            ("email", "Email"),
                            ("phone", "Phone"),
                        ],
                        max_length=16,
                    ),
                ),
                ("digest", models.CharField(max_length=32)),
                (
                    "dossier",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="index_entries",
                        to="dossiers.dossier",
                    ),
                ),
            ],
            options={
                "indexes": [models.Index(fields=["kind", "digest"], name="dossier_blind_index")],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("dossier", "kind", "digest"), name="dossier_index_unique_entry"
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="DossierTombstone",
            fields=[
                ("id", models.UUIDField(editable=False, primary_key=True, serialize=False)),
                ("number", models.CharField(blank=True, default="", max_length=32)),
                ("procedure_version", models.PositiveIntegerField()),
                (
                    "applicant_kind",
                    models.CharField(
                        choices=[("person", "Person"), ("company", "Company")], max_length=16
                    ),
                ),
                (
                    "state",
                    models.CharField(
                        choices=[
                            ("draft", "Draft"),
                            ("submitted", "Submitted"),
                            ("in_review", "In review"),
                            ("changes_requested", "Changes requested"),
                            ("accepted", "Accepted"),
                            ("rejected", "Rejected"),
                            ("withdrawn", "Withdrawn"),
                        ],
                        max_length=20,
                    ),
                ),
                ("created_at", models.DateTimeField()),
                ("submitted_at", models.DateTimeField(blank=True, null=True)),
                ("decided_at", models.DateTimeField(blank=True, null=True)),
                ("closed_at", models.DateTimeField(blank=True, null=True)),
                ("erased_at", models.DateTimeField()),
                (
                    "reason",
                    models.CharField(
                        choices=[
                            ("retention", "Retention period over"),
                            ("abandoned_draft", "Draft left untouched"),
                            ("account_closed", "Account closed by the applicant"),
                        ],
                        max_length=20,
                    ),
                ),
                (
                    "organisation",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="identity.organisation",
                    ),
                ),
                (
                    "procedure",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="catalog.procedure",
                    ),
                ),
            ],
            options={
                "verbose_name": "erased dossier",
                "verbose_name_plural": "erased dossiers",
                "indexes": [
                    models.Index(fields=["organisation", "state"], name="tombstone_org_state")
                ],
            },
        ),
        migrations.RunPython(seal, unseal, elidable=False),
        migrations.RemoveField(model_name="dossier", name="data"),
        migrations.RemoveField(model_name="attachment", name="original_name"),
        migrations.RemoveField(model_name="dossierevent", name="comment"),
        migrations.RemoveField(model_name="message", name="body"),
        migrations.AlterField(
            model_name="attachment", name="name_sealed", field=models.BinaryField(editable=False)
        ),
        migrations.AlterField(
            model_name="dossierevent",
            name="uid",
            field=models.UUIDField(default=uuid.uuid4, editable=False),
        ),
        migrations.AlterField(
            model_name="message", name="body_sealed", field=models.BinaryField(editable=False)
        ),
    ]
