"""What changed between two versions of a form, and whether drafts can follow.

A draft moves to a new version when every change keeps its saved answers valid and asks
nothing new of the applicant before they see it: a new optional field, new wording, a new
choice, a relaxed limit, a new page or explanation, a changed condition. A change that could
make a saved answer wrong or lost (a field removed or retyped, a choice removed, a limit
tightened, a pattern changed, a field made required, a new required field) is incompatible:
drafts then keep the version they were started under, if the designer allows it at all.

Changes are data ({"kind", "field", "label"}) kept with the version, so the draft page can
tell the applicant in their language what changed (`describe`).
"""

from typing import Any

from django.utils.translation import gettext as _

from guichet.catalog.forms import LAYOUT_TYPES
from guichet.catalog.text import translated

COMPATIBLE = ("added", "relabelled", "choices_added", "relaxed", "optional", "condition", "layout")
INCOMPATIBLE = ("removed", "retyped", "choices_removed", "tightened", "required", "added_required")
WORDING_KEYS = ("label", "help", "text", "pattern_message", "row_label")
# Limits that accept more when they grow, and those that accept more when they shrink.
UPPER_LIMITS = ("max", "max_length", "max_rows", "max_choices", "max_size_mb")
LOWER_LIMITS = ("min", "min_length", "min_rows", "min_choices")
# Anything else that changes is a tightening: a changed pattern may refuse a saved answer.
IGNORED_KEYS = (*WORDING_KEYS, "name", "type", "required", "visible_if", "choices", "fields")


def _named(form: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        str(spec["name"]): spec
        for spec in form
        if spec.get("type") not in LAYOUT_TYPES
        and spec.get("type") != "explanation"
        and "name" in spec
    }


def _change(kind: str, path: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"kind": kind, "field": path, "label": spec.get("label") or path}


def compare(
    old: list[dict[str, Any]], new: list[dict[str, Any]], prefix: str = ""
) -> list[dict[str, Any]]:
    """The changes from one form to the next, field by field (blocks compared row field by
    row field, under "block.field")."""
    before, after = _named(old), _named(new)
    changes: list[dict[str, Any]] = []
    for name, spec in after.items():
        path = f"{prefix}{name}"
        if name not in before:
            required = (
                bool(spec.get("required"))
                and spec.get("type") != "file"
                and "visible_if" not in spec
            )
            changes.append(_change("added_required" if required else "added", path, spec))
            continue
        changes.extend(_field_changes(before[name], spec, path))
    for name, spec in before.items():
        if name not in after:
            changes.append(_change("removed", f"{prefix}{name}", spec))
    if not prefix and _layout(old) != _layout(new):
        changes.append({"kind": "layout", "field": "", "label": ""})
    return changes


def _layout(form: list[dict[str, Any]]) -> list[Any]:
    return [spec for spec in form if spec.get("type") in LAYOUT_TYPES]


def _field_changes(old: dict[str, Any], new: dict[str, Any], path: str) -> list[dict[str, Any]]:
    if old.get("type") != new.get("type"):
        return [_change("retyped", path, new)]
    changes: list[dict[str, Any]] = []
    if any(old.get(key) != new.get(key) for key in WORDING_KEYS):
        changes.append(_change("relabelled", path, new))
    if bool(old.get("required")) != bool(new.get("required")):
        changes.append(_change("required" if new.get("required") else "optional", path, new))
    if old.get("visible_if") != new.get("visible_if"):
        changes.append(_change("condition", path, new))
    old_values = {str(c.get("value")) for c in old.get("choices") or []}
    new_values = {str(c.get("value")) for c in new.get("choices") or []}
    if old_values - new_values:
        changes.append(_change("choices_removed", path, new))
    elif new_values - old_values:
        changes.append(_change("choices_added", path, new))
    elif old.get("choices") != new.get("choices"):
        changes.append(_change("relabelled", path, new))
    changes.extend(_limit_changes(old, new, path))
    if new.get("type") == "block":
        changes.extend(compare(old.get("fields") or [], new.get("fields") or [], f"{path}."))
    return changes


def _limit_changes(old: dict[str, Any], new: dict[str, Any], path: str) -> list[dict[str, Any]]:
    kinds: set[str] = set()
    for key in set(old) | set(new):
        if key in IGNORED_KEYS or old.get(key) == new.get(key):
            continue
        before, after = old.get(key), new.get(key)
        if key in UPPER_LIMITS:
            relaxed = after is None or (before is not None and _gte(after, before))
        elif key in LOWER_LIMITS:
            relaxed = after is None or (before is not None and _gte(before, after))
        elif key == "multiple":
            relaxed = bool(after)
        else:
            relaxed = False
        kinds.add("relaxed" if relaxed else "tightened")
    return [_change(kind, path, new) for kind in sorted(kinds)]


def _gte(left: Any, right: Any) -> bool:
    try:
        return bool(left >= right)
    except TypeError:
        return False


def is_compatible(changes: list[dict[str, Any]]) -> bool:
    return all(change["kind"] in COMPATIBLE for change in changes)


def describe(change: dict[str, Any]) -> str:
    """A change as the applicant reads it on their draft."""
    label = translated(change.get("label")) or str(change.get("field", ""))
    kind = change.get("kind")
    if kind == "added":
        return _("New question: “%(label)s”.") % {"label": label}
    if kind == "added_required":
        return _("New required question: “%(label)s”.") % {"label": label}
    if kind == "relabelled":
        return _("Reworded: “%(label)s”.") % {"label": label}
    if kind == "choices_added":
        return _("New choices for “%(label)s”.") % {"label": label}
    if kind == "relaxed":
        return _("Wider limits for “%(label)s”.") % {"label": label}
    if kind == "optional":
        return _("“%(label)s” is now optional.") % {"label": label}
    if kind == "condition":
        return _("“%(label)s” now shows in other cases.") % {"label": label}
    if kind == "layout":
        return _("The form's pages or explanations changed.")
    if kind == "removed":
        return _("Question removed: “%(label)s”.") % {"label": label}
    if kind == "retyped":
        return _("Another kind of answer for “%(label)s”.") % {"label": label}
    if kind == "choices_removed":
        return _("Choices removed from “%(label)s”.") % {"label": label}
    if kind == "required":
        return _("“%(label)s” is now required.") % {"label": label}
    return _("Stricter rules for “%(label)s”.") % {"label": label}
