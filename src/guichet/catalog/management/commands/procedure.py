"""guichet procedure validate|import|export: procedure definitions as files.

guichet procedure validate FILE...        check, print every problem with its line; routing
                                          teams against the database when it can be read
guichet procedure import FILE [--publish] [--new-drafts-only]
guichet procedure export SLUG [FILE]      YAML to FILE, or to the standard output
"""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from guichet.catalog.actions import NEW_DRAFTS_ONLY, REFUSE, do_import_definition_from_command
from guichet.catalog.definition import Invalid, dump, line_of, load_with_lines, top_path
from guichet.catalog.models import Procedure
from guichet.catalog.service import export_definition
from guichet.catalog.teams import TeamCheck, TeamChecker
from guichet.errors import ActionError


class Command(BaseCommand):
    help = "Validate, import or export procedure definitions (YAML)."

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="command", required=True)
        validate = commands.add_parser("validate", help="Check definition files.")
        validate.add_argument("files", nargs="+", type=Path)
        load_ = commands.add_parser("import", help="Create or update a procedure from a file.")
        load_.add_argument("file", type=Path)
        load_.add_argument("--publish", action="store_true", help="Publish it once imported.")
        load_.add_argument(
            "--new-drafts-only",
            action="store_true",
            help="Accept a change drafts in progress cannot follow: they keep their version.",
        )
        export = commands.add_parser("export", help="Write a procedure's definition as YAML.")
        export.add_argument("slug")
        export.add_argument("file", type=Path, nargs="?")

    def handle(self, *args: Any, **options: Any) -> None:
        command = options["command"]
        if command == "validate":
            self._validate(options["files"])
        elif command == "import":
            self._import(options["file"], options["publish"], options["new_drafts_only"])
        else:
            self._export(options["slug"], options["file"])

    def _read(self, path: Path) -> tuple[dict[str, Any], dict[str, int]]:
        """The checked definition in a file and the line of each of its paths."""
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise CommandError(
                _("%(path)s: cannot read: %(error)s") % {"path": path, "error": error}
            ) from None
        return load_with_lines(text)

    def _report(self, path: Path, error: Invalid, lines: dict[str, int] | None = None) -> None:
        # Problems found against the database (teams, organisation) carry no line: they are
        # given the line of their path in the file, as the file's own problems are.
        for problem in error.problems:
            line = problem.line or line_of(lines or {}, problem.path) or 1
            where = problem.path or top_path()
            self.stderr.write(f"{path}:{line}: {where}: {problem.message}")

    def _validate(self, paths: list[Path]) -> None:
        failed = 0
        teams = TeamChecker()
        for path in paths:
            lines: dict[str, int] = {}
            found = TeamCheck()
            try:
                definition, lines = self._read(path)
                found = teams.check_teams(definition)
                if found.problems:
                    raise Invalid(found.problems)
            except Invalid as error:
                self._report(path, error, lines)
                failed += 1
                continue
            self.stdout.write(_("%(path)s: valid") % {"path": path})
            if found.not_checked:
                # A note, not a problem: the file may well be right, and it is checked again
                # against the database when it is imported.
                where = line_of(lines, "workflow.routing") or 1
                note = _("teams not checked: %(reason)s.") % {"reason": found.not_checked}
                self.stderr.write(
                    f"{path}:{where}: workflow.routing: {note}", style_func=self.style.WARNING
                )
        if failed:
            raise CommandError(
                ngettext(
                    "%(failed)d of %(count)d definitions has problems.",
                    "%(failed)d of %(count)d definitions have problems.",
                    failed,
                )
                % {"failed": failed, "count": len(paths)}
            )

    def _import(self, path: Path, publish: bool, new_drafts_only: bool) -> None:
        lines: dict[str, int] = {}
        try:
            definition, lines = self._read(path)
            saved = do_import_definition_from_command(
                definition,
                publish=publish,
                drafts_policy=NEW_DRAFTS_ONLY if new_drafts_only else REFUSE,
            )
        except Invalid as error:
            self._report(path, error, lines)
            raise CommandError(_("%(path)s: not imported.") % {"path": path}) from None
        except ActionError as error:
            raise CommandError(
                _("%(path)s: not imported: %(reason)s") % {"path": path, "reason": error.message}
            ) from None
        procedure = saved.procedure
        done = {
            "slug": procedure.slug,
            "version": procedure.version,
            "status": str(procedure.get_status_display()).lower(),
        }
        if saved.new_version:
            line = _("%(slug)s: saved as a new version (%(version)d), %(status)s.") % done
        else:
            line = _("%(slug)s: saved (version %(version)d), %(status)s.") % done
        self.stdout.write(self.style.SUCCESS(line))
        if saved.new_version and not saved.compatible:
            self.stdout.write(_("Drafts in progress keep the version they were started under."))

    def _export(self, slug: str, path: Path | None) -> None:
        procedure = Procedure.objects.select_related("organisation").filter(slug=slug).first()
        if procedure is None:
            raise CommandError(_("No procedure has the short name %(slug)s.") % {"slug": slug})
        text = dump(export_definition(procedure))
        if path is None:
            self.stdout.write(text, ending="")
        else:
            path.write_text(text, encoding="utf-8")
            self.stdout.write(_("%(slug)s: written to %(path)s") % {"slug": slug, "path": path})
