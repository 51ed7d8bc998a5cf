"""rsq: text-first retrieval for remote-sensing archives."""

__version__ = "0.1.0"
