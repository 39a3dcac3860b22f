"""The catalog: files, vector stores, store-files and ingestion jobs in SQL (SQLite by default)."""

from vectorhouse.catalog.database import Catalog
from vectorhouse.catalog.tables import file_batches, files, jobs, metadata, vector_store_files, vector_stores

__all__ = ["Catalog", "file_batches", "files", "jobs", "metadata", "vector_store_files", "vector_stores"]
