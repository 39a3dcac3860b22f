"""Query-time logic over an Index: one query's hybrid ranking, score fusion to 0..1, query rewriting."""
