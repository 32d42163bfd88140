"""Data source kinds: one module per kind, one interface (`base.DataSourceAdapter`), a registry.

Each kind's adapter is imported the first time it is used: Elasticsearch, Redis and openpyxl
(the file kind's XLSX) stay out of a process that never reads such a source.
`get_adapter` raises KeyError for a source type with no adapter.
"""

from functools import cache

from django.utils.module_loading import import_string

from reporting.datasources.base import DataSourceAdapter

ADAPTERS: dict[str, str] = {
    "database": "reporting.datasources.database.DatabaseAdapter",
    "dataset": "reporting.datasources.dataset.DatasetAdapter",
    "redis": "reporting.datasources.redis.RedisAdapter",
    "api": "reporting.datasources.api.ApiAdapter",
    "file": "reporting.datasources.file.FileAdapter",
    "elasticsearch": "reporting.datasources.elasticsearch.ElasticsearchAdapter",
}


@cache
def get_adapter(source_type: str) -> DataSourceAdapter:
    return import_string(ADAPTERS[source_type])()
