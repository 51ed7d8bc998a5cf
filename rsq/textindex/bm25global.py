"""BM25 with statistics summed over several indexes (shards), so that a score does not depend on the split.

As Lucene's and Elasticsearch's distributed frequencies: a first round asks every shard for its document count,
the document frequency of each query term in each field and each field's total length (`Bm25Statistics`); their
sums are the statistics of one index holding everything. tantivy scores with its own index's statistics and its
Python binding takes no others, so a shard ranks candidates with per-term boosts that make the idf global, then
re-scores each candidate from tantivy's explanation of it (term frequency, field length) with the global idf
and average lengths (`global_scores`). A local and a global score differ at most by the largest ratio of local
to global average length (`slack`), so the caller deepens its candidate list until no unread document could
reach the last score kept.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

K1, B = 1.2, 0.75  # tantivy's BM25 parameters
TERM = re.compile(r'Term\(field=(\d+), type=Str, "(.*)"\)$')


@dataclass(frozen=True)
class Bm25Statistics:
    """What BM25 needs of an index for one query's clauses: documents, per (field, token) document frequency,
    per field total tokens."""

    documents: int
    frequencies: dict[tuple[str, str], int] = field(default_factory=dict)
    tokens: dict[str, float] = field(default_factory=dict)

    @classmethod
    def summed(cls, parts: Iterable[Bm25Statistics]) -> Bm25Statistics:
        parts = list(parts)
        frequencies: dict[tuple[str, str], int] = {}
        tokens: dict[str, float] = {}
        for part in parts:
            for key, count in part.frequencies.items():
                frequencies[key] = frequencies.get(key, 0) + count
            for name, total in part.tokens.items():
                tokens[name] = tokens.get(name, 0.0) + total
        return cls(sum(p.documents for p in parts), frequencies, tokens)

    def idf(self, name: str, token: str) -> float:
        found = self.frequencies.get((name, token), 0)
        return math.log(1 + (self.documents - found + 0.5) / (found + 0.5))

    def average_length(self, name: str) -> float:
        return self.tokens.get(name, 0.0) / max(1, self.documents)

    def slack(self, local: Bm25Statistics) -> float:
        """The most a local score can differ from the global one, as a ratio (from the average lengths)."""
        ratios = [1.0]
        for name in self.tokens:
            mine, everyone = local.average_length(name), self.average_length(name)
            if mine > 0 and everyone > 0:
                ratios.append(max(mine / everyone, everyone / mine))
        return max(ratios)


def explained_terms(explanation: str, field_order: list[str]) -> list[tuple[str, str, float, float]]:
    """(field, token, term frequency, field length) of every term clause tantivy's explanation (JSON) scored."""
    found: list[tuple[str, str, float, float]] = []
    stack = [json.loads(explanation)]
    while stack:
        node = stack.pop()
        details = node.get("details", [])
        if node.get("description", "").startswith("TermQuery"):
            match = TERM.search(node.get("context", [""])[0])
            values = {d["description"].split(",")[0]: d["value"] for part in details for d in part.get("details", [])}
            if match:
                name = field_order[int(match.group(1))]
                found.append((name, json.loads(f'"{match.group(2)}"'), values["freq"], values["dl"]))
        else:
            stack.extend(details)
    return found


def explained_average_length(explanation: str) -> float:
    """The field's average length in an explanation of a single term query."""
    stack = [json.loads(explanation)]
    while stack:
        node = stack.pop()
        if node.get("description", "").startswith("avgdl"):
            return float(node["value"])
        stack.extend(node.get("details", []))
    return 0.0


def global_score(
    terms: list[tuple[str, str, float, float]], boosts: dict[tuple[str, str], float], statistics: Bm25Statistics
) -> float:
    """One document's BM25 under `statistics`: the sum over its matched clauses, each with its own boost."""
    score = 0.0
    for name, token, frequency, length in terms:
        average = statistics.average_length(name) or 1.0
        norm = K1 * (1 - B + B * length / average)
        score += boosts[(name, token)] * (K1 + 1) * statistics.idf(name, token) * frequency / (frequency + norm)
    return score
