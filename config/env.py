"""Strict readers of the environment for config/settings.py.

A bad value stops start-up with one line naming the variable and what it expects: the readers
raise SystemExit, which every entry point (manage.py, gunicorn, celery) prints as that one line.
"""

import base64
import ipaddress
import os
import re
import zoneinfo
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import environ

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_LOOPBACK = {"localhost", "127.0.0.1", "::1"}


class SettingsError(SystemExit):
    def __init__(self, name: str, expected: str, raw: str):
        super().__init__(f"Configuration error: {name} must be {expected} (got {raw!r}).")


def read_dotenv(path: Path) -> None:
    """Values already in the environment win over the .env file."""
    if path.is_file():
        environ.Env.read_env(path, overwrite=False)


def _read(name: str, default: Any, parse: Callable[[str], Any], expected: str) -> Any:
    raw = os.environ.get(name, "")
    if not raw.strip():
        return default
    try:
        return parse(raw.strip())
    except (TypeError, ValueError, LookupError):
        raise SettingsError(name, expected, raw) from None


def env_str(name: str, default: str) -> str:
    """Empty counts as unset, as for every reader here (`KEY=` in .env keeps the default)."""
    return os.environ.get(name, "").strip() or default


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    def parse(raw: str) -> int:
        value = int(raw)
        if value < minimum:
            raise ValueError(raw)
        return value

    return _read(name, default, parse, f"a whole number of at least {minimum}")


def env_bool(name: str, default: bool) -> bool:
    def parse(raw: str) -> bool:
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise ValueError(raw)

    return _read(name, default, parse, "true or false (1/0, yes/no, on/off)")


def env_list(name: str, default: list[str]) -> list[str]:
    return _read(
        name, default, lambda raw: [p.strip() for p in raw.split(",") if p.strip()], "a list"
    )


def env_choice(name: str, default: str, *, choices: Iterable[str]) -> str:
    allowed = tuple(choices)

    def parse(raw: str) -> str:
        if raw.lower() not in allowed:
            raise ValueError(raw)
        return raw.lower()

    return _read(name, default, parse, "one of " + ", ".join(allowed))


def env_time_zone(name: str, default: str) -> str:
    def parse(raw: str) -> str:
        zoneinfo.ZoneInfo(raw)
        return raw

    return _read(name, default, parse, "an IANA time zone such as Europe/Berlin")


def env_path(name: str, default: Path, *, base: Path) -> Path:
    return _read(name, default, lambda raw: base / Path(raw).expanduser(), "a folder path")


def env_url(name: str, default: str, *, schemes: Iterable[str]) -> str:
    allowed = tuple(schemes)

    def parse(raw: str) -> str:
        if urlsplit(raw).scheme not in allowed:
            raise ValueError(raw)
        return raw

    return _read(
        name, default, parse, "a URL starting with " + " or ".join(f"{s}://" for s in allowed)
    )


_RATE_PERIODS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60,
                 "h": 3600, "hour": 3600, "d": 86400, "day": 86400}  # fmt: skip


def env_rate(name: str, default: str) -> str:
    """A request rate as DRF writes it: `<count>/<period>`, the period s, min, hour or day."""

    def parse(raw: str) -> str:
        count, period = raw.replace(" ", "").split("/")
        if int(count) < 1 or period not in _RATE_PERIODS:
            raise ValueError(raw)
        return f"{int(count)}/{period}"

    return _read(name, default, parse, "a rate such as 10/min (per s, min, hour or day)")


def env_secret_file(name: str, *, base: Path) -> str:
    """The text of the file the variable names (stripped), or "" when the variable is unset."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return ""
    try:
        return (base / Path(raw).expanduser()).read_text().strip()
    except OSError as exc:
        raise SystemExit(
            f"Configuration error: {name} names {raw!r}, which cannot be read ({exc.strerror})."
        ) from None


SECRET_KEY_MIN_LENGTH = 50


def secret_key_check(key: str, *, known: Iterable[str], debug: bool, host: str) -> None:
    """Outside development (DEBUG off, or HOST beyond loopback) refuse a public or short key.

    The message never shows the key.
    """
    if debug and _is_loopback(host):
        return
    where = "DEBUG is off" if not debug else f"HOST={host} is reachable beyond this machine"
    if key in set(known):
        problem = "is the public development key"
    elif len(key) < SECRET_KEY_MIN_LENGTH or len(set(key)) < 5:
        problem = f"is too short or too simple ({len(key)} characters)"
    else:
        return
    raise SystemExit(
        f"Configuration error: SECRET_KEY {problem}; while {where} it must be a random value of "
        f"at least {SECRET_KEY_MIN_LENGTH} characters (make run writes one to var/secret_key)."
    )


def site_url_default() -> str:
    """http://HOST:PORT as `make run` serves it (gunicorn binds HOST:PORT); a wildcard HOST
    (0.0.0.0, ::) is reached at loopback here, and elsewhere only by a name SITE_URL gives."""
    host = env_str("HOST", "127.0.0.1").strip("[]")
    port = env_int("PORT", 8000, minimum=1)
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def _is_loopback(host: str) -> bool:
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def database_config(name: str, url: str, *, base: Path) -> dict[str, Any]:
    url = env_url(name, url, schemes=("postgres", "postgresql", "pgsql", "sqlite"))
    config = environ.Env.db_url_config(url)
    if config["ENGINE"] == "django.db.backends.sqlite3":
        config["NAME"] = str(base / config["NAME"])
        # WAL and IMMEDIATE transactions let the web server, worker and beat share one file
        # without "database is locked" errors.
        config["OPTIONS"] = {
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL;",
            "transaction_mode": "IMMEDIATE",
        }
    else:
        config["CONN_HEALTH_CHECKS"] = True
    return config


def redis_server(name: str, url: str) -> tuple[str, int, int]:
    """(host, port, database number) of the redis:// or rediss:// URL in variable `name`.

    Loopback names (localhost, 127.0.0.1, ::1) count as one host.
    """
    parts = urlsplit(url)
    try:
        host = (parts.hostname or "localhost").lower()
        db = parts.path.strip("/") or dict(parse_qsl(parts.query)).get("db") or "0"
        return ("localhost" if host in _LOOPBACK else host), parts.port or 6379, int(db)
    except ValueError:
        raise SettingsError(
            name, "a Redis URL such as redis://host:6379/0 (the path is a database number)", url
        ) from None


def redis_apart_check(name: str, url: str, *, service_urls: dict[str, str]) -> str:
    """The URL, unless it is the same Redis database as one of the service's own (name -> URL).

    Compared by host name as written, port and database number: two host names of one server
    are not detected.
    """
    server = redis_server(name, url)
    for service_name, service_url in service_urls.items():
        if urlsplit(service_url).scheme not in ("redis", "rediss"):
            continue
        if server == redis_server(service_name, service_url):
            raise SettingsError(
                name,
                f"another Redis database than {service_name}, the service's own (another host, "
                "port or database number)",
                url,
            )
    return url


def email_config(name: str) -> dict[str, Any]:
    url = env_url(name, "", schemes=("smtp", "smtps", "smtp+tls", "smtp+ssl", "consolemail"))
    return environ.Env.email_url_config(url) if url else {}


def env_fernet_keys(name: str) -> list[str]:
    """Comma-separated Fernet keys (32 url-safe base64 bytes each), as `Fernet.generate_key()`."""

    def parse(raw: str) -> list[str]:
        keys = [key.strip() for key in raw.split(",") if key.strip()]
        for key in keys:
            if len(base64.urlsafe_b64decode(key.encode())) != 32:
                raise ValueError(key)
        return keys

    return _read(name, [], parse, "Fernet keys, comma-separated (Fernet.generate_key())")


def env_networks(name: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Comma-separated addresses or networks: 10.0.0.5, 10.1.0.0/16, fd00::/8."""

    def parse(raw: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return [ipaddress.ip_network(part.strip()) for part in raw.split(",") if part.strip()]

    return _read(name, [], parse, "IP addresses or networks, comma-separated (10.0.0.0/8)")


_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_STORAGE_URL_OPTIONS = ("endpoint_url", "region_name", "addressing_style")
_ADDRESSING_STYLES = ("path", "virtual", "auto")
# S3 keeps a read above this size in a temporary file instead of memory (S3Storage's own
# default, 0, keeps every read in memory).
STORAGE_READ_MEMORY_BYTES = 8 * 2**20
STORAGE_CONNECT_TIMEOUT_SECONDS = 5


def storage_config(name: str, *, local: dict[str, Any], folder: str, url_seconds: int) -> dict:
    """The STORAGES entry for `local` files, or django-storages' S3Storage when variable `name`
    holds `s3://bucket/prefix?endpoint_url=…&region_name=…&addressing_style=…`: its objects are
    keys under `<prefix>/<folder>/`. Credentials are never in the URL: boto3 finds them
    (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, an instance or task role)."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return local
    parts = urlsplit(raw)
    bucket = parts.netloc.rpartition("@")[2]
    shown = urlunsplit((parts.scheme, bucket, parts.path, "", ""))  # no keys, no query values
    if parts.scheme != "s3" or "@" in parts.netloc:
        raise SettingsError(name, "an s3://bucket/prefix URL (keys go in AWS_* variables)", shown)
    if not _BUCKET.match(bucket):
        raise SettingsError(name, "an s3:// URL whose host is a valid S3 bucket name", shown)
    prefix = parts.path.strip("/")
    if prefix and any(part in ("", ".", "..") for part in prefix.split("/")):
        raise SettingsError(name, "an s3:// URL whose prefix has no empty, . or .. folders", shown)
    options = _storage_url_options(name, parts.query, shown)
    from botocore.config import Config  # only with S3: not in every process's start-up

    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            "location": f"{prefix}/{folder}".strip("/"),
            "endpoint_url": options.get("endpoint_url"),
            "region_name": options.get("region_name"),
            "client_config": Config(
                # S3-compatible servers (MinIO, Ceph, moto) seldom serve bucket.host names.
                s3={
                    "addressing_style": options.get(
                        "addressing_style", "path" if options.get("endpoint_url") else "auto"
                    )
                },
                signature_version="s3v4",  # presigned URLs carry X-Amz-Expires
                # An unreachable endpoint fails a request in seconds, not botocore's minutes.
                connect_timeout=STORAGE_CONNECT_TIMEOUT_SECONDS,
                read_timeout=60,
                retries={"max_attempts": 3, "mode": "standard"},
            ),
            "file_overwrite": False,
            "default_acl": None,
            "object_parameters": {},
            "gzip": False,
            "querystring_auth": True,
            "querystring_expire": url_seconds,
            "max_memory_size": STORAGE_READ_MEMORY_BYTES,
            "transfer_config": _transfer_config(),
        },
    }


def _transfer_config():
    """Multipart uploads of 8 MB parts, at most 4 of them read into memory at once: S3Storage
    uploads from a file object, whose parts boto3 reads ahead into memory (10 by default)."""
    from boto3.s3.transfer import TransferConfig

    config = TransferConfig(multipart_chunksize=8 * 2**20, max_concurrency=4)
    config.max_in_memory_upload_chunks = 4  # s3transfer's setting, which boto3 does not take
    return config


def _storage_url_options(name: str, query: str, shown: str) -> dict[str, str]:
    try:
        options = dict(parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)))
    except ValueError:
        raise SettingsError(name, "an s3:// URL with a query of name=value pairs", shown) from None
    unknown = sorted(set(options) - set(_STORAGE_URL_OPTIONS))
    if unknown:
        raise SettingsError(
            name,
            f"an s3:// URL whose query sets only {', '.join(_STORAGE_URL_OPTIONS)} "
            f"(not {', '.join(unknown)}; keys go in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)",
            shown,
        )
    endpoint = urlsplit(options.get("endpoint_url", "http://x"))
    if endpoint.scheme not in ("http", "https") or not endpoint.hostname:
        raise SettingsError(name, "an s3:// URL whose endpoint_url is an http(s):// URL", shown)
    if options.get("addressing_style", "auto") not in _ADDRESSING_STYLES:
        raise SettingsError(name, "an s3:// URL whose addressing_style is path or virtual", shown)
    return {key: value for key, value in options.items() if value}
