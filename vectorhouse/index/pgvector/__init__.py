"""The PostgreSQL + pgvector backend: schema, filter compiler, keyword statistics, and the index itself."""

from vectorhouse.index.pgvector.filters import compile_filter
from vectorhouse.index.pgvector.index import PgvectorIndex
from vectorhouse.index.pgvector.schema import (
    FILES_TABLE,
    KEYWORDS_TABLE,
    STORES_TABLE,
    TABLE,
    TERMS_TABLE,
    create_vector_index,
    ensure_schema,
)

__all__ = ["FILES_TABLE", "KEYWORDS_TABLE", "STORES_TABLE", "TABLE", "TERMS_TABLE", "PgvectorIndex", "compile_filter",
           "create_vector_index", "ensure_schema"]
