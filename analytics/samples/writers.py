"""Batched inserts: COPY from an in-memory CSV on PostgreSQL, bulk_create elsewhere."""

import csv
import io
import json
from collections.abc import Iterable
from datetime import UTC, datetime

from django.db import connections, models

NULL = r"\N"


class BatchWriter:
    """Collects rows (tuples in `columns` order) and writes every `batch_size` of them.

    COPY is used for the tables that grow with --events when the database is PostgreSQL; it
    needs psycopg2's copy_expert. Everything else goes through bulk_create.
    """

    def __init__(
        self,
        *,
        model: type[models.Model],
        columns: tuple[str, ...],
        organization_id: int,
        using: str,
        batch_size: int,
        copy: bool = False,
    ):
        self.model, self.columns, self.using = model, columns, using
        self.organization_id, self.batch_size = organization_id, batch_size
        self.copy = copy and connections[using].vendor == "postgresql"
        self.pending: list[tuple] = []
        self.written = 0

    def add(self, rows: Iterable[tuple]) -> None:
        self.pending.extend(rows)
        while len(self.pending) >= self.batch_size:
            batch, self.pending = self.pending[: self.batch_size], self.pending[self.batch_size :]
            self._write(batch)

    def flush(self) -> None:
        if self.pending:
            self._write(self.pending)
            self.pending = []

    def _write(self, batch: list[tuple]) -> None:
        if self.copy:
            self._copy(batch)
        else:
            self.model.objects.using(self.using).bulk_create(
                self.model(
                    organization_id=self.organization_id,
                    **dict(zip(self.columns, row, strict=True)),
                )
                for row in batch
            )
        self.written += len(batch)

    def _copy(self, batch: list[tuple]) -> None:
        received_at = datetime.now(UTC).isoformat()
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        for row in batch:
            writer.writerow((self.organization_id, *map(_csv_value, row), received_at))
        buffer.seek(0)
        connection = connections[self.using]
        fields = ("organization", *self.columns, "received_at")
        column_list = ", ".join(
            connection.ops.quote_name(self.model._meta.get_field(name).column) for name in fields
        )
        table = connection.ops.quote_name(self.model._meta.db_table)
        with connection.cursor() as cursor:
            cursor.copy_expert(
                f"COPY {table} ({column_list}) FROM STDIN WITH (FORMAT csv, NULL '{NULL}')", buffer
            )


def _csv_value(value):
    if value is None:
        return NULL
    if isinstance(value, dict | list):
        return json.dumps(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value
