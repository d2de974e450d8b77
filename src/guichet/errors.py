"""Errors an action raises on purpose. Pages show them next to the fields; the API returns
{code, message, fields?} with `status`."""


class ActionError(Exception):
    status = 400
    code = "invalid"

    def __init__(self, message: str, fields: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


class Conflict(ActionError):
    """The object changed under the caller (another agent decided first, a state moved on)."""

    status = 409
    code = "conflict"


class Unavailable(ActionError):
    """A service the request needs (the key service, an HSM) is out of reach: retry later."""

    status = 503
    code = "unavailable"


def refuse_nul(text: str, field: str) -> None:
    """PostgreSQL cannot store a NUL character: a clear 400 naming the field instead of a
    database error."""
    from django.utils.translation import gettext as _

    if "\x00" in text:
        message = _("Null characters are not allowed.")
        raise ActionError(message, {field: [message]})
