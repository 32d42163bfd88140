"""Data source kinds: one module per kind, one interface (`base.DataSourceAdapter`), a registry.

`get_adapter` raises KeyError for a source type with no adapter.
"""

from reporting.datasources.api import ApiAdapter
from reporting.datasources.base import DataSourceAdapter
from reporting.datasources.database import DatabaseAdapter
from reporting.datasources.dataset import DatasetAdapter
from reporting.datasources.elasticsearch import ElasticsearchAdapter
from reporting.datasources.file import FileAdapter
from reporting.datasources.redis import RedisAdapter

ADAPTERS: dict[str, DataSourceAdapter] = {
    "database": DatabaseAdapter(),
    "dataset": DatasetAdapter(),
    "redis": RedisAdapter(),
    "api": ApiAdapter(),
    "file": FileAdapter(),
    "elasticsearch": ElasticsearchAdapter(),
}


def get_adapter(source_type: str) -> DataSourceAdapter:
    return ADAPTERS[source_type]
