"""A checkpoint's vocabulary as users meet it: which known gloss a typed word means, and which known
glosses are nearest to a word that is none of them (for an error that helps)."""

from __future__ import annotations

import difflib
import unicodedata
from collections.abc import Sequence

NEAREST = 3


def fold(word: str) -> str:
    """``word`` compared without case or compatibility forms ("COFFEE", "ｃｏｆｆｅｅ" -> "coffee")."""
    return unicodedata.normalize("NFKC", word).casefold()


def resolve_gloss(word: str, glosses: Sequence[str]) -> str | None:
    """The known gloss ``word`` names: itself, else the one gloss equal to it folded (``fold``);
    None when there is none (or two glosses fold alike and ``word`` is neither exactly)."""
    if word in glosses:
        return word
    matches = [gloss for gloss in glosses if fold(gloss) == fold(word)]
    return matches[0] if len(matches) == 1 else None


def nearest_glosses(word: str, glosses: Sequence[str], n: int = NEAREST) -> list[str]:
    """Up to ``n`` known glosses spelled most like ``word`` (folded), best first; none when nothing
    is close."""
    by_fold = {fold(gloss): gloss for gloss in glosses}
    return [by_fold[match] for match in difflib.get_close_matches(fold(word), list(by_fold), n=n, cutoff=0.5)]


def unknown_words_message(words: Sequence[str], glosses: Sequence[str], listed: int = 20) -> str:
    """"unknown gloss(es) [...]: ...; nearest known: 'cofee' -> 'coffee', ...", then the vocabulary
    itself when it has at most ``listed`` glosses (else where to find it)."""
    hints = []
    for word in words:
        near = nearest_glosses(word, glosses)
        hints.append(f"{word!r} -> {', '.join(map(repr, near)) if near else 'none close'}")
    vocabulary = (f"the {len(glosses)} known glosses: {', '.join(sorted(glosses))}" if len(glosses) <= listed
                  else f"GET /glosses lists all {len(glosses)} known glosses")
    return f"unknown gloss(es) {list(words)}: not in the model's vocabulary; nearest known: {'; '.join(hints)}; {vocabulary}"
