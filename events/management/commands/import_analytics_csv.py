"""Import an analytics CSV (a header row naming the API's fields) through the ingestion services.

The file is read in batches of ANALYTICS_BATCH_SIZE inside one transaction: a bad line stores
nothing, so the corrected file can simply be imported again. Empty cells are absent fields; JSON
columns (metadata, materials_used, bom_items) hold JSON text, as the CSV export writes them.
"""

import csv
from collections.abc import Iterator
from itertools import islice

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from accounts.models import Organization
from config.errors import ApplicationError
from events import services
from events.ingestion import IngestResult

TABLES = ["events", *services.FACT_TABLES]


class Command(BaseCommand):
    help = "Import usage events or a fact table from a CSV file into one organisation."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("table", choices=TABLES)
        parser.add_argument("file")
        parser.add_argument("--org", required=True, help="The organisation's slug")

    def handle(self, *, table: str, file: str, org: str, **options) -> None:
        organization = Organization.objects.filter(slug=org).first()
        if organization is None:
            raise CommandError(f"No organisation with the slug {org!r}.")
        try:
            with open(file, newline="", encoding="utf-8-sig") as source:
                stored, duplicates, updated = self._import(table, organization, source)
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}.") from exc
        counts = f"{stored} stored, {duplicates} duplicates"
        self.stdout.write(counts + (f", {updated} updated" if updated else "") + f" ({table}).")

    @transaction.atomic
    def _import(self, table: str, organization: Organization, source) -> tuple[int, int, int]:
        totals = [0, 0, 0]
        for lines, records in _batches(csv.DictReader(source), settings.ANALYTICS_BATCH_SIZE):
            try:
                result = _ingest(table, organization, records)
            except ApplicationError as exc:
                raise CommandError(_problems(exc, lines)) from exc
            totals = [totals[0] + result.stored, totals[1] + result.duplicates,
                      totals[2] + result.updated]  # fmt: skip
        return totals[0], totals[1], totals[2]


def _batches(reader: csv.DictReader, size: int) -> Iterator[tuple[list[int], list[dict]]]:
    """Batches of records with the line each one ends on (a quoted cell may span lines)."""
    rows = ((reader.line_num, _present(row)) for row in reader)
    while batch := list(islice(rows, size)):
        yield [line for line, _ in batch], [record for _, record in batch]


def _present(row: dict) -> dict:
    # DictReader puts cells beyond the header under None: they become an unknown field.
    return {
        "cells beyond the header" if name is None else name: cell
        for name, cell in row.items()
        if cell not in ("", None)
    }


def _ingest(table: str, organization: Organization, records: list[dict]) -> IngestResult:
    if table == "events":
        return services.events_ingest(
            organization=organization, events=records, default_user_id=None
        )
    return services.facts_ingest(table=table, organization=organization, records=records)


def _problems(error: ApplicationError, lines: list[int]) -> str:
    found = [item for reasons in error.errors.values() for item in reasons]
    details = [
        f"line {lines[item['index']]}, {item['field'] or 'row'}: {item['reason']}"
        for item in found
        if isinstance(item, dict)
    ]
    return "\n".join(["Nothing was imported.", *details])
