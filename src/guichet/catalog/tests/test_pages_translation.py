"""The French catalog is complete, not fuzzy, and the compiled .mo says the same as the .po.

Read with plain Python (ast for the quoted strings, gettext for the .mo): no extra dependency.
"""

import ast
import gettext
import re
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

LOCALE = Path(settings.SRC_DIR) / "locale" / "fr" / "LC_MESSAGES"
KEYWORD = re.compile(r"^(msgctxt|msgid_plural|msgid|msgstr(?:\[\d+\])?)\s+(\".*\")\s*$")


@dataclass
class Entry:
    line: int
    flags: set[str] = field(default_factory=set)
    parts: dict[str, str] = field(default_factory=dict)

    @property
    def msgid(self) -> str:
        return self.parts.get("msgid", "")

    @property
    def translations(self) -> dict[str, str]:
        return {key: value for key, value in self.parts.items() if key.startswith("msgstr")}


def parse_po(path: Path) -> list[Entry]:
    entries: list[Entry] = []
    current: Entry | None = None
    last_key = ""
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line:
            current = None
            continue
        if line.startswith("#~"):
            continue  # obsolete entries are not used
        if current is None:
            current = Entry(line=number)
            entries.append(current)
        if line.startswith("#,"):
            current.flags.update(flag.strip() for flag in line[2:].split(","))
        elif line.startswith("#"):
            continue
        elif match := KEYWORD.match(line):
            last_key = match.group(1)
            current.parts[last_key] = ast.literal_eval(match.group(2))
        elif line.startswith('"'):
            current.parts[last_key] += ast.literal_eval(line)
        else:
            raise AssertionError(f"{path.name}:{number}: cannot read {line!r}")
    return entries


def messages() -> list[Entry]:
    entries = parse_po(LOCALE / "django.po")
    assert entries and entries[0].msgid == "", "the header comes first"
    return entries[1:]


def test_every_message_has_a_french_translation_and_none_is_fuzzy() -> None:
    entries = messages()
    assert len(entries) > 200  # the pages alone have that many texts
    fuzzy = [entry.msgid for entry in entries if "fuzzy" in entry.flags]
    empty = [
        entry.msgid
        for entry in entries
        if not entry.translations or any(not text for text in entry.translations.values())
    ]
    assert fuzzy == []
    assert empty == []
    header = parse_po(LOCALE / "django.po")[0]
    assert "fuzzy" not in header.flags
    assert "Language: fr" in header.parts["msgstr"]


def test_placeholders_survive_translation() -> None:
    placeholder = re.compile(r"%\([a-z_]+\)[sd]|%s|%d")
    for entry in messages():
        expected = sorted(placeholder.findall(entry.parts.get("msgid_plural", entry.msgid)))
        for key, text in entry.translations.items():
            assert sorted(placeholder.findall(text)) == expected, (entry.msgid, key)


def test_the_compiled_catalog_matches_the_source() -> None:
    with open(LOCALE / "django.mo", "rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    for entry in messages():
        if "msgid_plural" in entry.parts:
            assert (
                compiled.ngettext(entry.msgid, entry.parts["msgid_plural"], 5)
                == (entry.parts["msgstr[2]"])
            ), entry.msgid
        elif "msgctxt" in entry.parts:
            assert compiled.pgettext(entry.parts["msgctxt"], entry.msgid) == entry.parts["msgstr"]
        else:
            assert compiled.gettext(entry.msgid) == entry.parts["msgstr"], entry.msgid
