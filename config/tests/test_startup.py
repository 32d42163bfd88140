"""A lean start-up (issue 14): the settings, django.setup(), the URL configuration, the Celery
tasks and the run_report command load no heavy library; each loads in the code path that uses
it. Each check runs in a fresh interpreter, since this test process has loaded everything."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reporting.models import OUTPUT_FORMATS
from reporting.renderers import RENDERER_MODULES, get_renderer

PROJECT = Path(__file__).resolve().parents[2]

# Measured with bench/startup.py: each costs tens of ms and several MB to import (weasyprint,
# pypdf with fontTools and boto3 the most), and a web process or a CSV export needs none of them.
HEAVY = {
    "boto3",
    "botocore",
    "cryptography",
    "elastic_transport",
    "elasticsearch",
    "fontTools",
    "numpy",
    "openpyxl",
    "pandas",
    "PIL",
    "pypdf",
    "redis",
    "reportlab",
    "weasyprint",
    "xlsxwriter",
}

START_UP = """
import django
django.setup()
import config.urls
from django.urls import get_resolver
get_resolver().url_patterns
from config.celery import app
app.loader.import_default_modules()
import reporting.management.commands.run_report
"""


def modules_after(code: str) -> set[str]:
    """The modules in sys.modules after start-up and `code`, in a fresh interpreter."""
    report = "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    completed = subprocess.run(
        [sys.executable, "-c", START_UP + code + report],
        cwd=PROJECT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return set(json.loads(completed.stdout))


def test_start_up_loads_no_heavy_library_and_no_pdf_or_xlsx_renderer():
    loaded = modules_after("")
    assert {name.partition(".")[0] for name in loaded} & HEAVY == set()
    assert {"reporting.renderers.pdf", "reporting.renderers.xlsx"} & loaded == set()


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("from reporting.renderers import get_renderer as g; g('pdf')", "reporting.renderers.pdf"),
        ("from reporting.renderers import get_renderer as g; g('xlsx')", "xlsxwriter"),
        ("from delivery.channels import get_channel as g; g('storage')", "boto3"),
        ("from reporting.datasources import get_adapter as g; g('elasticsearch')", "elasticsearch"),
        ("from config.encryption import secrets_encrypt as e; e({'a': 1})", "cryptography.fernet"),
    ],
    ids=["pdf", "xlsx", "storage", "elasticsearch", "secrets"],
)
def test_a_heavy_library_loads_where_it_is_used(code, expected):
    assert expected in modules_after(code)


def test_every_output_format_has_its_renderer():
    assert sorted(RENDERER_MODULES) == sorted(OUTPUT_FORMATS)
    for output_format in OUTPUT_FORMATS:
        assert get_renderer(output_format).format == output_format
