"""Query: what a search asks for, retrieval per mode, fusion, composed queries, results."""

from rsq.query.filters import parse_filters
from rsq.query.request import SearchQuery
from rsq.query.results import Hit
from rsq.query.searcher import Searcher
from rsq.textindex.filters import Filters

__all__ = ["Filters", "Hit", "SearchQuery", "Searcher", "parse_filters"]
