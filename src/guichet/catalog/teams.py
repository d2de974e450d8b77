"""Routing targets against the organisation's teams: the one check that needs the database.

`team_problems` is the check itself, run by every path that saves a definition (import, the
designer pages) and by the designer's "Check only". `check_teams` is what `guichet procedure
validate` runs on files: the same check when the database answers and knows the file's
organisation, else the reason it could not be made, since a file may be validated on a machine
with no Guichet database at all.
"""

from dataclasses import dataclass, field
from typing import Any

from django.db import DatabaseError
from django.utils.translation import gettext as _

from guichet.catalog.definition import Problem
from guichet.identity.models import Organisation


def routing_of(definition: dict[str, Any]) -> dict[str, Any] | None:
    routing = (definition.get("workflow") or {}).get("routing")
    return routing if isinstance(routing, dict) else None


def team_problems(definition: dict[str, Any], organisation: Organisation) -> list[Problem]:
    """The routing's targets that name no team (child organisation) of the procedure's
    organisation: the dossier engine would quietly leave those dossiers with the whole
    organisation, so the definition is refused instead, naming the teams there are."""
    routing = routing_of(definition)
    if routing is None:
        return []
    targets = [(f"teams.{value}", team) for value, team in (routing.get("teams") or {}).items()]
    if routing.get("default"):
        targets.append(("default", routing["default"]))
    existing = sorted(
        Organisation.objects.filter(parent=organisation).values_list("slug", flat=True)
    )
    problems: list[Problem] = []
    seen: set[str] = set()
    for path, team in targets:
        if team in existing or team in seen:
            continue
        seen.add(team)
        problems.append(
            Problem(f"workflow.routing.{path}", _unknown_team(team, organisation, existing))
        )
    return problems


def _unknown_team(team: str, organisation: Organisation, existing: list[str]) -> str:
    names = {"team": team, "organisation": organisation.name, "teams": ", ".join(existing)}
    if existing:
        return _("%(organisation)s has no team “%(team)s”. Its teams: %(teams)s.") % names
    return _("%(organisation)s has no team “%(team)s”: it has no teams yet.") % names


@dataclass
class TeamCheck:
    """What `check_teams` found: problems when it could check, else why it could not."""

    problems: list[Problem] = field(default_factory=list)
    not_checked: str = ""


@dataclass
class TeamChecker:
    """Checks the teams of one file after another. The first database failure is kept and
    given for the files after it, rather than trying again: an unreachable PostgreSQL can take
    its whole connection timeout on each attempt."""

    unreachable: str = ""

    def check_teams(self, definition: dict[str, Any]) -> TeamCheck:
        """The routing's team problems for a definition already checked by definition.check()."""
        if routing_of(definition) is None:
            return TeamCheck()
        if self.unreachable:
            return TeamCheck(not_checked=self.unreachable)
        slug = definition["organisation"]
        try:
            organisation = Organisation.objects.filter(slug=slug).first()
            if organisation is None:
                return TeamCheck(not_checked=_no_organisation(slug))
            return TeamCheck(problems=team_problems(definition, organisation))
        except DatabaseError as error:
            # No database (a designer's laptop), one not migrated, or a server that does not
            # answer: the file may still be right, so say what was not checked and go on.
            text = str(error).strip()
            reason = text.splitlines()[0] if text else type(error).__name__
            self.unreachable = _("the database cannot be read (%(error)s)") % {"error": reason}
            return TeamCheck(not_checked=self.unreachable)


def _no_organisation(slug: str) -> str:
    return _("no organisation “%(organisation)s” in this database") % {"organisation": slug}
