import json
import os
import string
import subprocess
import sys
from pathlib import Path

import pytest

from config.env import SettingsError, env_bool, env_int, env_str, read_dotenv, storage_config

BASE_DIR = Path(__file__).resolve().parents[2]
CONFIG_VARIABLES = (
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "CELERY_RESULT_BACKEND",
    "REDIS_URL",
    "EMAIL_URL",
    "EMAIL_HOST",
    "REPORT_OUTPUT_DIR",
    "ANALYTICS_REPORT_STORAGE_DIR",
    "REPORT_STORAGE_URL",
    "REPORT_PRESIGNED_SECONDS",
    "ANALYTICS_CACHE_TTL",
    "TIME_ZONE",
    "DEBUG",
    "SECRET_KEY",
    "VAR_DIR",
    "HOST",
    "PORT",
    "SITE_URL",
)
# Start-up refuses the development key while HOST reaches beyond this machine.
NON_DEVELOPMENT_KEY = string.ascii_letters + string.digits


def load_settings(tmp_path, **env) -> subprocess.CompletedProcess:
    """Import the settings in a fresh interpreter with only the given variables set."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in CONFIG_VARIABLES and not k.startswith("REPORTING_") and not k.endswith("_ORGS")
    }
    clean["VAR_DIR"] = str(tmp_path / "var")
    script = (
        "import json, config.settings as s;"
        "print(json.dumps({'db': s.DATABASES['default'], 'broker': s.CELERY_BROKER_URL,"
        " 'cache': s.CACHES['default']['BACKEND'], 'email': s.EMAIL_BACKEND,"
        " 'reports': str(s.REPORT_OUTPUT_DIR),"
        " 'analytics_reports': str(s.ANALYTICS_REPORT_STORAGE_DIR),"
        " 'ttl': s.ANALYTICS_CACHE_TTL, 'email_host': s.EMAIL_HOST,"
        " 'reporting_redis': s.REPORTING_REDIS, 'grants': s.REPORTING_CONNECTION_GRANTS,"
        " 'site_url': s.SITE_URL}))"
    )
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=BASE_DIR,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_nothing_set_runs_on_embedded_parts(tmp_path):
    result = load_settings(tmp_path)
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["db"]["ENGINE"] == "django.db.backends.sqlite3"
    assert values["db"]["NAME"] == str(tmp_path / "var" / "db.sqlite3")
    assert values["broker"] == "filesystem://"
    assert values["cache"].endswith("FileBasedCache")
    assert values["email"].endswith("console.EmailBackend")
    assert values["reports"] == str(tmp_path / "var" / "reports")
    assert values["ttl"] == 300
    assert (tmp_path / "var" / "celery" / "broker").is_dir()


@pytest.mark.parametrize(
    ("env", "site_url"),
    [
        ({}, "http://127.0.0.1:8000"),
        ({"PORT": "9000"}, "http://127.0.0.1:9000"),
        ({"HOST": "localhost", "PORT": "9000"}, "http://localhost:9000"),
        (
            {"HOST": "0.0.0.0", "PORT": "9000", "SECRET_KEY": NON_DEVELOPMENT_KEY},
            "http://127.0.0.1:9000",
        ),
        ({"HOST": "::1"}, "http://[::1]:8000"),
        ({"PORT": "9000", "SITE_URL": "https://reports.example"}, "https://reports.example"),
    ],
)
def test_links_in_deliveries_point_where_make_run_serves_unless_site_url_says(
    tmp_path, env, site_url
):
    result = load_settings(tmp_path, **env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["site_url"] == site_url


def test_production_urls_switch_to_production_parts(tmp_path):
    result = load_settings(
        tmp_path,
        DATABASE_URL="postgres://postgres@db.example:5432/hub",
        CELERY_BROKER_URL="redis://cache.example:6379/0",
        REDIS_URL="redis://cache.example:6379/1",
        EMAIL_URL="smtp+tls://mailer:pw@smtp.example:587",
    )
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["db"]["ENGINE"] == "django.db.backends.postgresql"
    assert values["db"]["HOST"] == "db.example"
    assert values["broker"] == "redis://cache.example:6379/0"
    assert values["cache"].endswith("RedisCache")
    assert values["email"].endswith("smtp.EmailBackend")
    assert values["email_host"] == "smtp.example"


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("ANALYTICS_CACHE_TTL", "five minutes", "a whole number"),
        ("DATABASE_URL", "mysql://root@localhost/hub", "postgres://"),
        ("CELERY_BROKER_URL", "sqs://queue", "redis://"),
        ("TIME_ZONE", "Mars/Olympus_Mons", "an IANA time zone"),
        ("DEBUG", "perhaps", "true or false"),
        ("REPORT_TIME_LIMIT", "1800", "more than REPORT_SOFT_TIME_LIMIT (1800)"),
        ("REPORT_STORAGE_URL", "/srv/reports", "an s3://bucket/prefix URL"),
        ("REPORT_STORAGE_URL", "s3://Reports/hub", "a valid S3 bucket name"),
        ("REPORT_PRESIGNED_SECONDS", "700000", "at most 604800"),
    ],
)
def test_bad_value_stops_start_up_with_one_line_naming_the_variable(
    tmp_path, variable, value, expected
):
    result = load_settings(tmp_path, **{variable: value})
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"Configuration error: {variable} must be")
    assert expected in lines[0]
    assert repr(value) in lines[0]


def test_no_redis_connection_for_data_sources_unless_reporting_redis_url_is_set(tmp_path):
    result = load_settings(tmp_path, REDIS_URL="redis://127.0.0.1:6379/1")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["reporting_redis"] == {}


def test_redis_connections_on_other_databases_than_the_services_own_are_accepted(tmp_path):
    result = load_settings(
        tmp_path,
        REDIS_URL="redis://127.0.0.1:6379/1",
        CELERY_BROKER_URL="redis://127.0.0.1:6379/2",
        CELERY_RESULT_BACKEND="redis://127.0.0.1:6379/2",
        REPORTING_REDIS_URL="redis://127.0.0.1:6379/5",
        REPORTING_REDIS_SESSIONS_URL="redis://127.0.0.1:6380/1",
        REPORTING_REDIS_SHOP_URL="rediss://shop.example:6379/1",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["reporting_redis"] == {
        "default": "redis://127.0.0.1:6379/5",
        "sessions": "redis://127.0.0.1:6380/1",
        "shop": "rediss://shop.example:6379/1",
    }


@pytest.mark.parametrize(
    ("variable", "value", "service", "service_url"),
    [
        (
            "REPORTING_REDIS_URL",
            "redis://127.0.0.1:6379/1",
            "REDIS_URL",
            "redis://127.0.0.1:6379/1",
        ),
        ("REPORTING_REDIS_URL", "redis://localhost/0", "REDIS_URL", "redis://127.0.0.1:6379"),
        (
            "REPORTING_REDIS_CACHE_URL",
            "redis://:secret@127.0.0.1:6379/2",
            "CELERY_BROKER_URL",
            "redis://127.0.0.1:6379/2",
        ),
        (
            "REPORTING_REDIS_JOBS_URL",
            "rediss://cache.example:6379?db=3",
            "CELERY_RESULT_BACKEND",
            "rediss://cache.example/3",
        ),
    ],
)
def test_a_redis_connection_on_the_services_own_redis_stops_start_up(
    tmp_path, variable, value, service, service_url
):
    result = load_settings(tmp_path, **{variable: value, service: service_url})
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0] == (
        f"Configuration error: {variable} must be another Redis database than {service}, the "
        f"service's own (another host, port or database number) (got {value!r})."
    )


def test_organisation_slugs_beside_a_connections_url_grant_it(tmp_path):
    result = load_settings(
        tmp_path,
        REPORTING_DATABASE_WAREHOUSE_URL="sqlite:///var/warehouse.sqlite3",
        REPORTING_DATABASE_WAREHOUSE_ORGS="acme, northwind",
        REPORTING_REDIS_URL="redis://127.0.0.1:6379/5",
        REPORTING_REDIS_ORGS="acme",
        REPORTING_REDIS_SESSIONS_URL="redis://127.0.0.1:6379/6",
        REPORTING_REDIS_SESSIONS_ORGS="northwind",
        ELASTICSEARCH_ORGS="acme",
        ELASTICSEARCH_LOGS_URL="https://logs.example:9200",
        ELASTICSEARCH_LOGS_ORGS="northwind",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["grants"] == {
        "database": {"reporting_warehouse": ["acme", "northwind"]},
        "redis": {"default": ["acme"], "sessions": ["northwind"]},
        "elasticsearch": {"default": ["acme"], "logs": ["northwind"]},
    }


def test_a_grant_for_a_connection_that_is_not_configured_stops_start_up(tmp_path):
    result = load_settings(tmp_path, REPORTING_REDIS_CACHE_ORGS="acme")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "Configuration error: REPORTING_REDIS_CACHE_ORGS must be empty unless "
        "REPORTING_REDIS_CACHE_URL is set (got 'acme')."
    )


def test_report_output_dir_wins_over_analytics_report_storage_dir(tmp_path):
    both = json.loads(
        load_settings(
            tmp_path, REPORT_OUTPUT_DIR="/srv/out", ANALYTICS_REPORT_STORAGE_DIR="/srv/analytics"
        ).stdout
    )
    assert both["reports"] == both["analytics_reports"] == "/srv/out"
    only_analytics = json.loads(
        load_settings(tmp_path, ANALYTICS_REPORT_STORAGE_DIR="/srv/analytics").stdout
    )
    assert only_analytics["reports"] == only_analytics["analytics_reports"] == "/srv/analytics"


def test_dotenv_is_read_but_the_environment_wins(tmp_path, monkeypatch):
    dotenv = tmp_path / ".env"
    dotenv.write_text("HUB_TEST_FROM_FILE=file\nHUB_TEST_BOTH=file\n")
    monkeypatch.setenv("HUB_TEST_BOTH", "environment")
    monkeypatch.delenv("HUB_TEST_FROM_FILE", raising=False)
    read_dotenv(dotenv)
    assert os.environ["HUB_TEST_FROM_FILE"] == "file"
    assert os.environ["HUB_TEST_BOTH"] == "environment"
    monkeypatch.delenv("HUB_TEST_FROM_FILE")


def test_env_readers_treat_empty_as_unset_and_reject_negative_numbers(monkeypatch):
    monkeypatch.setenv("HUB_TEST_NUMBER", "")
    assert env_int("HUB_TEST_NUMBER", 7) == 7
    monkeypatch.setenv("HUB_TEST_TEXT", " ")
    assert env_str("HUB_TEST_TEXT", "default") == "default"
    monkeypatch.setenv("HUB_TEST_NUMBER", "-3")
    with pytest.raises(SystemExit, match="HUB_TEST_NUMBER must be a whole number of at least 0"):
        env_int("HUB_TEST_NUMBER", 7)
    monkeypatch.setenv("HUB_TEST_FLAG", "Yes")
    assert env_bool("HUB_TEST_FLAG", False) is True


LOCAL_FILES = {"BACKEND": "django.core.files.storage.FileSystemStorage"}


def test_without_report_storage_url_files_stay_in_the_local_folder(monkeypatch):
    monkeypatch.delenv("HUB_TEST_STORAGE_URL", raising=False)
    config = storage_config(
        "HUB_TEST_STORAGE_URL", local=LOCAL_FILES, folder="reports", url_seconds=300
    )
    assert config == LOCAL_FILES


def test_report_storage_url_names_bucket_prefix_and_endpoint_of_s3_storage(monkeypatch):
    monkeypatch.setenv(
        "HUB_TEST_STORAGE_URL",
        "s3://hub-files/site-a/?endpoint_url=http://10.0.0.1:5000&region_name=eu-central-1",
    )
    reports = storage_config(
        "HUB_TEST_STORAGE_URL", local=LOCAL_FILES, folder="reports", url_seconds=120
    )
    uploads = storage_config(
        "HUB_TEST_STORAGE_URL", local=LOCAL_FILES, folder="uploads", url_seconds=120
    )
    assert reports["BACKEND"] == uploads["BACKEND"] == "storages.backends.s3.S3Storage"
    options = reports["OPTIONS"]
    assert options["bucket_name"] == "hub-files"
    assert (options["location"], uploads["OPTIONS"]["location"]) == (
        "site-a/reports",
        "site-a/uploads",
    )
    assert options["endpoint_url"] == "http://10.0.0.1:5000"
    assert options["region_name"] == "eu-central-1"
    # servers other than AWS seldom serve bucket.host names
    assert options["client_config"].s3 == {"addressing_style": "path"}
    assert options["client_config"].signature_version == "s3v4"
    assert options["querystring_expire"] == 120
    assert options["file_overwrite"] is False  # an upload never replaces another's file


@pytest.mark.parametrize(
    "url",
    [
        "s3://hub-files/p?aws_secret_access_key=very-secret",
        "s3://AKIA:very-secret@hub-files/p",
    ],
)
def test_keys_in_report_storage_url_are_refused_without_echoing_them(monkeypatch, url):
    monkeypatch.setenv("HUB_TEST_STORAGE_URL", url)
    with pytest.raises(SettingsError) as refused:
        storage_config("HUB_TEST_STORAGE_URL", local=LOCAL_FILES, folder="reports", url_seconds=1)
    message = str(refused.value)
    assert message.startswith("Configuration error: HUB_TEST_STORAGE_URL must be")
    assert "AWS_SECRET_ACCESS_KEY" in message or "AWS_* variables" in message
    assert "very-secret" not in message
