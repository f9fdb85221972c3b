"""Zero-shot scoring: versioned condition sets with prompt ensembles, and their scores."""
