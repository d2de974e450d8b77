"""Designers' regular expressions (a field's `pattern`), run on applicants' answers.

A pattern is written by a procedure's designer and run on every answer an applicant types, up to
thousands of characters. Python's `re` has no time limit: a pattern with nested or overlapping
repetitions (`(a|aa)+`, `(a+)+$`) backtracks exponentially, and a few dozen characters pinned a
worker for seconds. Patterns therefore run on the `regex` engine, which stops a match after a
CPU time budget; an answer that cannot be checked within it is refused on its field, and the
pattern is reported in the logs so that its designer can fix it. No static check can tell every
slow pattern from a fast one, so the limit, not a list of forbidden shapes, is the guarantee.

The same engine compiles patterns when a definition is checked, so a pattern accepted there is
one the form engine can run.
"""

import logging

import regex

# CPU seconds one match may take. Patterns of real forms (a phone, a code, a reference) finish in
# microseconds on answers of thousands of characters; a catastrophic one is cut here.
MATCH_TIMEOUT = 0.05

logger = logging.getLogger("guichet.catalog")


class PatternTimeout(Exception):
    """The pattern did not finish on this text within MATCH_TIMEOUT."""


def compile_problem(pattern: str) -> str | None:
    """Why a pattern cannot be used (the engine's own words), or None when it compiles."""
    try:
        regex.compile(pattern)
    except (regex.error, ValueError, TypeError, OverflowError, RecursionError) as error:
        return str(error) or type(error).__name__
    return None


def full_match(pattern: str, text: str) -> bool:
    """Whether the whole text matches the pattern. PatternTimeout when the match takes too long,
    and also when a pattern stored before the engine changed does not compile any more: either
    way, the answer cannot be checked."""
    try:
        return regex.fullmatch(pattern, text, timeout=MATCH_TIMEOUT) is not None
    except TimeoutError:
        # The pattern is the designer's (no personal data); the answer is not logged.
        logger.warning(
            "field pattern too slow on an answer of %d characters, refused: %r",
            len(text),
            pattern[:200],
        )
        raise PatternTimeout from None
    except (regex.error, ValueError, TypeError, OverflowError, RecursionError):
        logger.warning("field pattern does not compile, answer refused: %r", pattern[:200])
        raise PatternTimeout from None
