"""Queries: the immutable builder and plans (`_core`), and the sync and async shells."""
