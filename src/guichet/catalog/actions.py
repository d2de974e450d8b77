"""Every write to the catalog."""

from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from guichet.audit.models import Action as LogAction
from guichet.audit.service import Actor, record_event
from guichet.catalog.access import designer_organisations
from guichet.catalog.definition import Invalid, Problem, check, normalise
from guichet.catalog.forms import check_definition
from guichet.catalog.models import Procedure, ProcedureVersion
from guichet.catalog.service import drafts_in_progress, export_definition
from guichet.catalog.teams import team_problems
from guichet.catalog.versions import compare, describe, is_compatible
from guichet.catalog.workflow_def import design_role_problems
from guichet.errors import ActionError
from guichet.identity.models import Organisation, User
from guichet.identity.service import agent_actor

# What a dossier's handling depends on: a change to any of these makes a new version.
VERSIONED_KEYS = ("form", "fees", "eligibility", "workflow")
REFUSE = "refuse"
NEW_DRAFTS_ONLY = "new_drafts_only"


@dataclass
class Saved:
    procedure: Procedure
    new_version: bool = False
    compatible: bool = True
    changes: list[dict[str, Any]] = field(default_factory=list)


def _attributes(definition: dict[str, Any]) -> dict[str, Any]:
    fees = definition.get("fees") or {}
    return {
        "title": definition["title"],
        "summary": definition.get("summary") or {},
        "legal_basis": definition.get("legal_basis") or {},
        "applicant_kinds": definition.get("applicant_kinds") or ["person"],
        "deadline_days": definition.get("deadline_days", 30),
        "retention_days": definition.get("retention_days", Procedure.retention_days.field.default),
        "data_protection": definition.get("data_protection") or {},
        "fees": fees,
        "fee_amount": int(fees.get("amount") or 0),
        "eligibility": definition.get("eligibility") or [],
        "form": definition["form"],
        "workflow": definition.get("workflow") or {},
    }


# Where a column's value comes from in a definition, for the model's own validation errors.
COLUMN_PATHS = {"fee_amount": "fees.amount", NON_FIELD_ERRORS: ""}


def _model_problems(error: ValidationError) -> Invalid:
    """The model's validation errors as the definition's problems, at the definition's paths.
    The definition's checks bound every value first; this is what is left if one is missed
    (a database's integer range), so that it is a message on the field, never a 500."""
    if not hasattr(error, "error_dict"):
        return Invalid([Problem("", message) for message in error.messages])
    return Invalid(
        [
            Problem(COLUMN_PATHS.get(column, column), message)
            for column, errors in error.error_dict.items()
            for message in ValidationError(errors).messages
        ]
    )


def _refusal(changes: list[dict[str, Any]], drafts: int) -> ActionError:
    reasons = [describe(change) for change in changes if not is_compatible([change])]
    message = ngettext(
        "%(drafts)d draft in progress could not follow this change: %(reasons)s Publish it "
        "for new drafts only, or make the change compatible (add optional fields, reword).",
        "%(drafts)d drafts in progress could not follow this change: %(reasons)s Publish it "
        "for new drafts only, or make the change compatible (add optional fields, reword).",
        drafts,
    ) % {"drafts": drafts, "reasons": " ".join(reasons)}
    return ActionError(message, {"form": reasons})


def _store(procedure: Procedure, definition: dict[str, Any], drafts_policy: str) -> Saved:
    """Write the definition to the procedure; a change to what dossiers depend on makes a new
    version, refused when it would strand drafts and the policy says so."""
    # Every write of a procedure comes here, whatever checked the definition before (or not,
    # as do_save_procedure): a workflow naming a design role is never stored again.
    misplaced = design_role_problems(definition.get("workflow"))
    if misplaced:
        raise Invalid([Problem(f"workflow.{path}", message) for path, message in misplaced])
    new = procedure._state.adding
    before = {key: getattr(procedure, key) for key in VERSIONED_KEYS} if not new else {}
    old_form = list(procedure.form) if not new else []
    for key, value in _attributes(definition).items():
        setattr(procedure, key, value)
    saved = Saved(procedure)
    if not new and any(before[key] != getattr(procedure, key) for key in VERSIONED_KEYS):
        saved.changes = compare(old_form, procedure.form)
        saved.compatible = is_compatible(saved.changes)
        if not saved.compatible and drafts_policy == REFUSE:
            drafts = drafts_in_progress(procedure)
            if drafts:
                raise _refusal(saved.changes, drafts)
        procedure.version += 1
        saved.new_version = True
    try:
        procedure.full_clean()
    except ValidationError as error:
        raise _model_problems(error) from None
    procedure.save()
    ProcedureVersion.objects.update_or_create(
        procedure=procedure,
        number=procedure.version,
        defaults={
            "definition": export_definition(procedure),
            **(
                {"compatible": saved.compatible, "changes": saved.changes}
                if saved.new_version
                else {}
            ),
        },
    )
    return saved


@transaction.atomic
def do_import_definition(
    definition: dict[str, Any], *, publish: bool = False, drafts_policy: str = REFUSE
) -> Saved:
    """Create or update the procedure a definition describes (its `slug`). Invalid lists the
    definition's problems; ActionError says why a change was refused."""
    found = check(definition)
    if found:
        raise Invalid(found)
    organisation = Organisation.objects.filter(slug=definition["organisation"]).first()
    if organisation is None:
        raise Invalid([Problem("organisation", _("no organisation has this slug"))])
    slug = definition["slug"]
    procedure = Procedure.objects.select_for_update().filter(slug=slug).first()
    if procedure is None:
        procedure = Procedure(slug=slug, organisation=organisation)
    elif procedure.organisation_id != organisation.pk:
        raise Invalid([Problem("organisation", _("the procedure belongs to another organisation"))])
    unknown_teams = team_problems(definition, organisation)
    if unknown_teams:
        raise Invalid(unknown_teams)
    saved = _store(procedure, normalise(definition), drafts_policy)
    if publish and procedure.status != Procedure.Status.PUBLISHED:
        do_publish_procedure(procedure)
    return saved


@transaction.atomic
def do_save_procedure(organisation: Organisation, slug: str, **attributes: Any) -> Procedure:
    """Create or update a procedure from attributes (title, form, ...); a changed form bumps
    its version so dossiers keep theirs. Kept for callers that build a procedure in code."""
    check_definition(attributes.get("form", []))
    policy = attributes.pop("drafts_policy", NEW_DRAFTS_ONLY)
    procedure = Procedure.objects.select_for_update().filter(slug=slug).first()
    if procedure is None:
        procedure = Procedure(slug=slug, organisation=organisation)
    procedure.organisation = organisation
    definition = {**(export_definition(procedure) if not procedure._state.adding else {})}
    definition.update({"slug": slug, "organisation": organisation.slug})
    if "fee_amount" in attributes and "fees" not in attributes:
        attributes["fees"] = {**(definition.get("fees") or {}), "amount": attributes["fee_amount"]}
    definition.update({k: v for k, v in attributes.items() if k != "fee_amount"})
    definition.setdefault("form", [])
    definition.setdefault("title", {})
    return _store(procedure, definition, policy).procedure


@transaction.atomic
def do_publish_procedure(procedure: Procedure) -> Procedure:
    procedure.status = Procedure.Status.PUBLISHED
    procedure.save(update_fields=["status", "search_text", "updated_at"])
    return procedure


# --- The designer pages ---------------------------------------------------------------------------
# Each write below checks the designer's role again (the pages load through access.py too) and
# records its event in the transparency log within the same transaction.

DESIGN_PURPOSE = "Procedure design"


def require_designer(user: User, procedure: Procedure) -> None:
    if procedure.organisation_id not in designer_organisations(user):
        raise PermissionDenied


def log_procedure_change(
    action: LogAction, user: User, procedure: Procedure, **details: Any
) -> None:
    actor = agent_actor(user, procedure.organisation_id, procedure.organisation.name)
    _log_procedure_event(action, actor, procedure, **details)


def _log_procedure_event(
    action: LogAction, actor: Actor, procedure: Procedure, **details: Any
) -> None:
    record_event(
        action,
        actor=actor,
        object_type="procedure",
        object_id=procedure.pk,
        purpose=DESIGN_PURPOSE,
        details={"slug": procedure.slug, "version": procedure.version, **details},
    )


# The command line runs on the server with no signed-in user: whoever can run it operates the
# platform, so the log names the platform and the command, as other unattended writes do.
COMMAND_LINE = "Guichet command line (procedure import)"


@transaction.atomic
def do_import_definition_from_command(
    definition: dict[str, Any], *, publish: bool = False, drafts_policy: str = REFUSE
) -> Saved:
    """`guichet procedure import`: do_import_definition() with its events in the log, in the
    same transaction. Invalid or ActionError leave nothing behind, events included."""
    saved = do_import_definition(definition, drafts_policy=drafts_policy)
    procedure = saved.procedure
    actor = Actor.system(COMMAND_LINE)
    _log_procedure_event(
        LogAction.PROCEDURE_SAVED,
        actor,
        procedure,
        new_version=saved.new_version,
        compatible=saved.compatible,
        new_drafts_only=drafts_policy == NEW_DRAFTS_ONLY,
    )
    if publish and procedure.status != Procedure.Status.PUBLISHED:
        do_publish_procedure(procedure)
        _log_procedure_event(LogAction.PROCEDURE_PUBLISHED, actor, procedure)
    return saved


@transaction.atomic
def do_create_procedure(
    user: User, organisation: Organisation, slug: str, title: dict[str, str]
) -> Procedure:
    """A new unpublished procedure with an empty form, for its designers to fill in."""
    if organisation.pk not in designer_organisations(user):
        raise PermissionDenied
    if Procedure.objects.filter(slug=slug).exists():
        message = _("A procedure already has this short name.")
        raise ActionError(message, {"slug": [message]})
    definition = {
        "format": 1,
        "slug": slug,
        "organisation": organisation.slug,
        "title": title,
        # A form is never empty (the procedure's column requires an item): a first page.
        "form": [{"type": "page", "label": title}],
    }
    procedure = do_import_definition(definition).procedure
    log_procedure_change(LogAction.PROCEDURE_SAVED, user, procedure, created=True)
    return procedure


@transaction.atomic
def do_save_designed_definition(
    user: User, procedure: Procedure, definition: dict[str, Any], *, new_drafts_only: bool = False
) -> Saved:
    """Save a whole definition edited in the designer pages (forms or YAML). The short name and
    the organisation stay those of the procedure being edited: a pasted file cannot overwrite
    another procedure. Invalid lists the problems; ActionError explains a refused change."""
    require_designer(user, procedure)
    if isinstance(definition, dict):
        wrong = [
            Problem(key, _("This cannot change here: it must stay “%(value)s”.") % {"value": value})
            for key, value in (
                ("slug", procedure.slug),
                ("organisation", procedure.organisation.slug),
            )
            if definition.get(key) != value
        ]
        if not definition.get("form") and isinstance(definition.get("form"), list):
            wrong.append(Problem("form", _("Keep at least one item in the form.")))
        if wrong:
            raise Invalid(wrong)
    saved = do_import_definition(
        definition, drafts_policy=NEW_DRAFTS_ONLY if new_drafts_only else REFUSE
    )
    log_procedure_change(
        LogAction.PROCEDURE_SAVED,
        user,
        saved.procedure,
        new_version=saved.new_version,
        compatible=saved.compatible,
        new_drafts_only=new_drafts_only,
    )
    return saved


def _set_status(procedure: Procedure, status: str, replaced_by: Procedure | None = None) -> None:
    procedure.status = status
    procedure.replaced_by = replaced_by
    procedure.save(update_fields=["status", "replaced_by", "search_text", "updated_at"])


@transaction.atomic
def do_publish_designed_procedure(user: User, procedure: Procedure) -> Procedure:
    """Open the procedure's current version to applicants (closed ones reopen too)."""
    require_designer(user, procedure)
    procedure = Procedure.objects.select_for_update().get(pk=procedure.pk)
    if procedure.status == Procedure.Status.PUBLISHED:
        raise ActionError(_("This procedure is already published."))
    # A workflow saved before design roles were refused may still name one: publishing it would
    # open the procedure to citizens under a workflow the designer wrote for their own role.
    misplaced = design_role_problems(procedure.workflow)
    if misplaced:
        paths = [f"workflow.{path}" for path, _message in misplaced]
        message = _("%(reason)s Correct the workflow (%(paths)s) before publishing.") % {
            "reason": misplaced[0][1],
            "paths": ", ".join(paths),
        }
        raise ActionError(message, {"workflow": [message]})
    _set_status(procedure, Procedure.Status.PUBLISHED)
    log_procedure_change(LogAction.PROCEDURE_PUBLISHED, user, procedure)
    return procedure


@transaction.atomic
def do_unpublish_procedure(user: User, procedure: Procedure) -> Procedure:
    """Take the procedure out of the catalog; dossiers already started carry on."""
    require_designer(user, procedure)
    procedure = Procedure.objects.select_for_update().get(pk=procedure.pk)
    if procedure.status == Procedure.Status.DRAFT:
        raise ActionError(_("This procedure is not published."))
    _set_status(procedure, Procedure.Status.DRAFT)
    log_procedure_change(LogAction.PROCEDURE_UNPUBLISHED, user, procedure)
    return procedure


@transaction.atomic
def do_close_procedure(user: User, procedure: Procedure, replacement_slug: str = "") -> Procedure:
    """Close the procedure for good: its page stays, says it is closed and links to the
    published procedure that replaces it, if any."""
    require_designer(user, procedure)
    procedure = Procedure.objects.select_for_update().get(pk=procedure.pk)
    replacement = None
    if replacement_slug:
        replacement = (
            Procedure.objects.filter(slug=replacement_slug, status=Procedure.Status.PUBLISHED)
            .exclude(pk=procedure.pk)
            .first()
        )
        if replacement is None:
            message = _("Name another procedure that is published.")
            raise ActionError(message, {"replacement": [message]})
    _set_status(procedure, Procedure.Status.ARCHIVED, replacement)
    log_procedure_change(
        LogAction.PROCEDURE_CLOSED,
        user,
        procedure,
        replaced_by=replacement.slug if replacement else "",
    )
    return procedure
