"""Captioner: prompt templates x backends -> validated, provenance-carrying caption records."""
