import json
import shutil
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from config.errors import ApplicationError
from reporting.models import ExecutionStatus, ReportTemplate, Trigger, report_storage
from reporting.services.executions import execution_request, execution_run

BAR_WIDTH = 40


class Command(BaseCommand):
    help = "Run a report now, in this process, and write its file(s)."

    def add_arguments(self, parser):
        parser.add_argument("template", help="the template's slug or id")
        parser.add_argument(
            "--param",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="a parameter; repeat for each (values are read as the schema's type)",
        )
        parser.add_argument(
            "--format",
            action="append",
            dest="formats",
            metavar="FORMAT",
            help="pdf, csv, xlsx, html or json; repeat for several (default: the template's)",
        )
        parser.add_argument(
            "--output", help="file to write (a folder when several formats; default: here)"
        )
        parser.add_argument("--org", help="the organisation's slug, when the slug is not unique")

    def handle(self, *args, template: str, param: list[str], formats, output, org, **options):
        report = self._template(template, org)
        try:
            execution = execution_request(
                template=report,
                parameters=_parameters(param, report.parameters_schema),
                output_formats=formats,
                requested_by=None,
                trigger=Trigger.CLI,
                enqueue=False,
            )
        except ApplicationError as error:
            raise CommandError(f"{error.message} {json.dumps(error.errors)}") from None
        execution_run(execution_id=execution.pk, on_progress=self._draw)
        execution.refresh_from_db()  # ended here, or cancelled or queued again meanwhile
        self._draw(100)
        self.stderr.write("")
        if execution.status != ExecutionStatus.SUCCEEDED:
            raise CommandError(f"The report {execution.status}: {execution.error}")
        for path in self._write(execution, output):
            self.stdout.write(f"{path} ({path.stat().st_size:,} bytes)")
        self.stdout.write(f"{execution.row_count:,} rows; execution {execution.pk}.")

    def _template(self, reference: str, org: str | None) -> ReportTemplate:
        templates = ReportTemplate.objects.all()
        if org:
            templates = templates.filter(organization__slug=org)
        found = (
            templates.filter(pk=int(reference))
            if reference.isdigit()
            else templates.filter(slug=reference)
        )
        matches = list(found.select_related("organization")[:10])
        if not matches:
            raise CommandError(
                f"No report template {reference!r}" + (f" in {org!r}." if org else ".")
            )
        if len(matches) > 1:
            orgs = ", ".join(t.organization.slug for t in matches)
            raise CommandError(
                f"Several organisations have {reference!r} ({orgs}): name one with --org."
            )
        return matches[0]

    def _write(self, execution, output: str | None) -> list[Path]:
        outputs = list(execution.outputs.all())
        single = len(outputs) == 1 and output and not Path(output).is_dir()
        written = []
        for item in outputs:
            target = Path(output) if single else Path(output or ".") / item.filename
            target.parent.mkdir(parents=True, exist_ok=True)
            with report_storage().open(item.file.name, "rb") as source, target.open("wb") as out:
                shutil.copyfileobj(source, out)
            written.append(target)
        return written

    def _draw(self, percent: int) -> None:
        if not sys.stderr.isatty():
            return
        done = BAR_WIDTH * percent // 100
        self.stderr.write(f"\r[{'#' * done}{'.' * (BAR_WIDTH - done)}] {percent:3d}%", ending="")
        self.stderr.flush()


def _parameters(pairs: list[str], schema: dict[str, Any]) -> dict[str, Any]:
    properties = schema.get("properties", {})
    values = {}
    for pair in pairs:
        name, separator, text = pair.partition("=")
        if not separator:
            raise CommandError(f"--param {pair!r}: write NAME=VALUE.")
        values[name] = _typed(text, properties.get(name, {}).get("type"))
    return values


def _typed(text: str, kind: str | None) -> Any:
    """'2025' for an integer parameter is 2025; a value that does not convert stays text."""
    converters = {
        "integer": int,
        "number": float,
        "boolean": lambda t: {"true": True, "false": False}[t.lower()],
        "array": json.loads,
        "object": json.loads,
    }
    try:
        return converters[kind](text) if kind in converters else text
    except (ValueError, KeyError):
        return text
