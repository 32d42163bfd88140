"""The analytics reports' built-in datasets, one module per report, read by `dataset` data
sources (see `reporting.datasources.dataset`).

Each takes `start_date` and `end_date` ("YYYY-MM-DD", local days in the organisation's time
zone; missing: the 30 days up to today) and groups the raw event and fact tables in the
database, so a table's size follows the days, hours or items it lists, never the rows read.
Timestamps are bucketed with the zone (`TruncDate(..., tzinfo=…)`); `InventoryAnalytics.date`
already is a local day. Day and month series list every day or month of the range, with zeros
where nothing happened, so their charts have no holes. Means and percentages are rounded here
(2 decimals, quantities 3), so SQLite and PostgreSQL give the same text.
"""

from analytics.datasets import equipment, inventory, revenue, usage
from analytics.datasets.base import RANGE_PARAMETERS

__all__ = ["RANGE_PARAMETERS", "equipment", "inventory", "revenue", "usage"]
