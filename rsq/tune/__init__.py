"""`rsq tune`: an embedder adapted to an archive's own captions with no labels (pairs: `pairs`; the loop: `train`)."""
