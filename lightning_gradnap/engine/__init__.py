"""Relevance to streaming group sums: the engine, folds, segments, sums and their reduction over processes."""
