"""Post-mortem review: the document and its review decisions (pure)."""
