import pytest
from django.core.management import CommandError, call_command

from reporting.models import ReportExecution

runs_reports = pytest.mark.django_db(databases=["default", "reporting"], transaction=True)


@runs_reports
def test_run_report_writes_the_file_synchronously(billing_template, tmp_path, report_output_dir):
    target = tmp_path / "march.csv"
    call_command(
        "run_report",
        "monthly-billing-summary",
        "--param",
        "month=03",
        "--param",
        "year=2025",
        "--param",
        "rows=2",
        "--format",
        "csv",
        "--output",
        str(target),
    )
    assert target.read_bytes() == (
        b"invoice,customer,amount_cents,year,month\n"
        b"1,Customer 1,10,2025,03\n"
        b"2,Customer 2,20,2025,03\n"
    )
    execution = ReportExecution.objects.get()
    assert (execution.trigger, execution.status, execution.parameters["year"]) == (
        "cli",
        "succeeded",
        2025,
    )


@runs_reports
def test_run_report_writes_several_formats_into_a_folder(
    billing_template, tmp_path, report_output_dir
):
    call_command(
        "run_report",
        str(billing_template.pk),
        "--param",
        "month=2025-03",
        "--param",
        "year=2025",
        "--format",
        "json",
        "--format",
        "xlsx",
        "--output",
        str(tmp_path),
        "--org",
        "acme",
    )
    execution = ReportExecution.objects.get()
    names = sorted(p.name for p in tmp_path.iterdir() if p.is_file())
    assert names == [
        f"monthly-billing-summary_2025-03_{execution.pk}.json",
        f"monthly-billing-summary_2025-03_{execution.pk}.xlsx",
    ]


def test_run_report_refuses_bad_parameters_with_the_reason(billing_template):
    with pytest.raises(CommandError, match="1999 is less than the minimum of 2000"):
        call_command(
            "run_report", "monthly-billing-summary", "--param", "month=03", "--param", "year=1999"
        )
    assert not ReportExecution.objects.exists()


def test_run_report_names_an_unknown_template(db):
    with pytest.raises(CommandError, match="No report template 'nope'"):
        call_command("run_report", "nope")
