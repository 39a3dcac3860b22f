"""The Elasticsearch backend: per-store indices and their mapping, the filter compiler, and the index itself."""

from vectorhouse.index.elasticsearch.filters import attribute_rows, attributes_from_rows, compile_filter
from vectorhouse.index.elasticsearch.index import MEAN_SAMPLE, ElasticsearchIndex
from vectorhouse.index.elasticsearch.mapping import INDEX_PREFIX, index_name, mapping

__all__ = ["INDEX_PREFIX", "MEAN_SAMPLE", "ElasticsearchIndex", "attribute_rows", "attributes_from_rows",
           "compile_filter", "index_name", "mapping"]
