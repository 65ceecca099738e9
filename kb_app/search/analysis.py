"""Text analysis shared by indexing and querying, so a query word meets the same term the index holds.

Two views of the same text: *words* (lower case, stop words removed, not stemmed) feed the
vocabulary used for typo correction and suggestions; *terms* (the words, stemmed) are what the
Whoosh fields index and what queries match.
"""

from __future__ import annotations

import re
from functools import lru_cache

from whoosh.analysis import Filter, LowercaseFilter, RegexTokenizer, StemFilter, StopFilter
from whoosh.analysis.filters import STOP_WORDS
from whoosh.lang.porter import stem as porter_stem

# Words joined by an apostrophe stay one word ("can't" -> "cant"); everything else splits,
# so "2-step" is the two words "2" and "step" in documents and queries alike.
TOKEN_PATTERN = r"\w+(?:['\u2019]\w+)*"
# Whoosh's English stop words, plus the question and pronoun words agents type around the words
# that matter ("how do I ...", "what should we ..."). "no", "not" and "all" count: "no email
# access", "code not arriving" and "sign out all sessions" need them.
EXTRA_STOP_WORDS = {
    "how",
    "what",
    "which",
    "whom",
    "why",
    "does",
    "do",
    "did",
    "done",
    "doing",
    "i",
    "im",
    "ive",
    "me",
    "my",
    "mine",
    "our",
    "ours",
    "he",
    "she",
    "him",
    "his",
    "her",
    "hers",
    "they",
    "them",
    "their",
    "theirs",
    "its",
    "was",
    "were",
    "been",
    "being",
    "has",
    "had",
    "having",
    "would",
    "should",
    "could",
    "so",
    "than",
    "too",
    "very",
    "just",
    "about",
    "into",
    "there",
    "here",
    "then",
    "these",
    "those",
    "am",
}
STOP_LIST = (frozenset(STOP_WORDS) - {"not"}) | EXTRA_STOP_WORDS


class ApostropheFilter(Filter):
    """Drops apostrophes inside words: "can't" and "cant" are the same word to a searcher."""

    def __call__(self, tokens):
        for token in tokens:
            if "'" in token.text or "\u2019" in token.text:
                token.text = token.text.replace("'", "").replace("\u2019", "")
            yield token


def _word_chain():
    return (
        RegexTokenizer(TOKEN_PATTERN)
        | ApostropheFilter()
        | LowercaseFilter()
        | StopFilter(stoplist=STOP_LIST, minsize=1)
    )


def term_analyzer():
    """The analyzer of every searchable text field: words, then Porter stems."""
    return _word_chain() | StemFilter(stemfn=porter_stem, cachesize=-1)


def word_analyzer():
    return _word_chain()


_WORDS = word_analyzer()


def words(text: str) -> list[str]:
    """The words of `text` as the vocabulary sees them (lower case, no stop words, unstemmed)."""
    return [token.text for token in _WORDS(text)]


_TOKEN = re.compile(TOKEN_PATTERN)


def stem_spans(text: str, prefixes: frozenset[str] | None = None) -> list[tuple[str, int, int]]:
    """(stem, start char, end char) of every word that is not a stop word, for marking a snippet.

    With `prefixes` (first two letters of the stems sought), other words get the stem "" without
    being stemmed: Porter only rewrites endings, so they cannot match, and skipping them keeps
    snippets cheap on long sections.
    """
    spans = []
    lowered = text.lower()
    for match in _TOKEN.finditer(lowered):
        word = match.group()
        if "'" in word or "\u2019" in word:
            word = word.replace("'", "").replace("\u2019", "")
        if word in STOP_LIST:
            continue
        if prefixes is not None and word[:2] not in prefixes:
            spans.append(("", match.start(), match.end()))
        else:
            spans.append((stem(word), match.start(), match.end()))
    return spans


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    return porter_stem(word)


def terms(text: str) -> list[str]:
    return [stem(w) for w in words(text)]


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff\ud800-\udfff]")


def clean_text(text: str) -> str:
    """Removes control and invisible formatting characters (a pasted query can carry them)."""
    return _CONTROL.sub(" ", text)
