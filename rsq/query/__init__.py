"""Query: parse, retrieve per mode, fuse, filter, explain."""

from rsq.textindex.filters import Filters, parse_filters
from rsq.query.search import Hit, Index, SearchQuery

__all__ = ["Filters", "Hit", "Index", "SearchQuery", "parse_filters"]
