"""The catalog: projects and keys, files, vector stores, store-files, ingestion jobs and stored responses in SQL."""

from vectorhouse.catalog.database import Catalog
from vectorhouse.catalog.tables import (
    DEFAULT_PROJECT_ID,
    DEFAULT_PROJECT_NAME,
    api_keys,
    file_batches,
    files,
    jobs,
    metadata,
    projects,
    responses,
    vector_store_files,
    vector_stores,
)

__all__ = ["DEFAULT_PROJECT_ID", "DEFAULT_PROJECT_NAME", "Catalog", "api_keys", "file_batches", "files", "jobs",
           "metadata", "projects", "responses", "vector_store_files", "vector_stores"]
