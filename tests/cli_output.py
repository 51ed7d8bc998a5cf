"""Reading `rsq search --json` output in tests: hit records, then one summary record per query."""

import json


def hit_records(stdout: str) -> list[dict]:
    """The hit records of `rsq search --json` output (summary records left out)."""
    return [record for record in map(json.loads, stdout.splitlines()) if "summary" not in record]


def summaries(stdout: str) -> list[dict]:
    """The summary record of each query, in order."""
    return [record["summary"] for record in map(json.loads, stdout.splitlines()) if "summary" in record]
