"""Suggested competences for an item, from its own words: computed here, nothing leaves the server.

Each statement of the worker's framework is scored against the item's title
and text with BM25 (the ranking function search engines use) over stemmed
words, so "listened" finds "listening". Statements of the worker's current
and next tier come first; ones already linked are left out.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

import snowballstemmer

from ..extensions import db
from ..frameworks.structure import FrozenCompetence
from ..frameworks.tree import framework_tree
from ..models import Framework, Tier, User

LIMIT = 5
# BM25's usual constants: how fast repeated words stop counting, and how much long statements are discounted.
K1, B = 1.2, 0.75
# Statements beyond the next tier still show, after the ones the worker is working towards.
LATER_TIER_WEIGHT = 0.6
STOP_WORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before being
    below between both but by can could did do does doing down during each either few for from further get
    got had has have having he her here hers herself him himself his how i if in into is it its itself just
    me more most my myself no nor not now of off on once only or other our ours ourselves out over own same
    she should so some such than that the their theirs them themselves then there these they this those
    through to too under until up very was we were what when where which while who whom why will with would
    you your yours yourself yourselves able ability demonstrate understand using use used within across
    including include individual individuals people person someone""".split()
)
# A few words link workers use for what the framework names otherwise.
SYNONYMS = {
    "anxious": "distress",
    "tearful": "distress",
    "upset": "distress",
    "distressed": "distress",
    "angry": "anger conflict",
    "argument": "conflict",
    "referred": "refer connect",
    "referral": "refer connect",
    "signposted": "connect",
    "volunteer": "strengths resources",
    "notes": "records",
    "gp": "health professionals",
    "nurse": "health professionals",
    "charity": "assets",
    "charities": "assets",
    "groups": "assets community",
    "club": "assets",
    "clubs": "assets",
    "abuse": "safeguarding vulnerable risk",
    "neglect": "safeguarding vulnerable risk",
}
_WORD = re.compile(r"[a-z]+")
_stemmer = snowballstemmer.stemmer("english")


def terms(text: str) -> list[str]:
    """The stemmed words of ``text`` that say something (stop words and very short words dropped)."""
    words: list[str] = []
    for word in _WORD.findall(text.lower()):
        words.extend(SYNONYMS.get(word, word).split())
    return [_stemmer.stemWord(w) for w in words if len(w) > 2 and w not in STOP_WORDS]


@dataclass(frozen=True)
class _Index:
    """BM25 statistics of a framework version's statements."""

    refs: tuple[str, ...]
    documents: tuple[Counter, ...]
    lengths: tuple[int, ...]
    idf: dict[str, float]
    average: float

    @classmethod
    def of(cls, statements: list[tuple[str, str]]) -> _Index:
        documents = tuple(Counter(terms(text)) for _, text in statements)
        frequency = Counter(word for doc in documents for word in doc)
        n = len(documents) or 1
        idf = {word: math.log(1 + (n - df + 0.5) / (df + 0.5)) for word, df in frequency.items()}
        lengths = tuple(sum(doc.values()) for doc in documents)
        return cls(tuple(ref for ref, _ in statements), documents, lengths, idf, (sum(lengths) / n) or 1.0)

    def scores(self, query: list[str]) -> dict[str, float]:
        words = Counter(query)
        found: dict[str, float] = {}
        for ref, doc, length in zip(self.refs, self.documents, self.lengths, strict=True):
            score = 0.0
            for word in words:
                tf = doc.get(word, 0)
                if tf:
                    score += self.idf[word] * tf * (K1 + 1) / (tf + K1 * (1 - B + B * length / self.average))
            if score > 0:
                found[ref] = score
        return found


@lru_cache(maxsize=16)
def _index(framework_id: int, content_hash: str, statements: tuple[tuple[str, str], ...]) -> _Index:
    # Keyed by the framework version and its statements, so a new locality competence rebuilds it.
    return _Index.of(list(statements))


def suggest(
    worker: User, text: str, *, linked_ids: set[int] | frozenset[int] = frozenset(), limit: int = LIMIT
) -> list[FrozenCompetence]:
    """Up to ``limit`` competences of the worker's framework that ``text`` seems to show, best first."""
    if worker.framework_id is None or not text.strip():
        return []
    framework = db.session.get_one(Framework, worker.framework_id)
    tree = framework_tree(framework)
    rows = {row.competence.ref: row.competence for row in tree.rows}
    index = _index(framework.id, framework.content_hash, tuple((ref, c.statement) for ref, c in rows.items()))
    current = db.session.get(Tier, worker.tier_id) if worker.tier_id else None
    reach = (current.position if current else 0) + 1  # the current tier and the next
    ranked = []
    for ref, score in index.scores(terms(text)).items():
        competence = rows[ref]
        if competence.id in linked_ids:
            continue
        weight = 1.0 if competence.tier.position <= reach else LATER_TIER_WEIGHT
        ranked.append((score * weight, competence.position, competence))
    ranked.sort(key=lambda r: (-r[0], r[1]))
    return [competence for _, _, competence in ranked[:limit]]
