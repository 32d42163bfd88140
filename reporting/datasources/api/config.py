"""An api source's config, checked and read (see the package docstring), and parameters placed."""

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import jmespath
from jmespath.exceptions import JMESPathError

from reporting.datasources.api.columns import ColumnSpec
from reporting.datasources.base import DataSourceError, config_keys_check
from reporting.tables import COLUMN_TYPES, Column

CONFIG_KEYS = {
    "method": '"GET" (the default) or "POST"',
    "url": "the endpoint, with {name} where a parameter goes",
    "headers": 'values, or {"env": "VARIABLE", "prefix": "Bearer "} for a secret',
    "body": 'a POST\'s JSON body, with {"$param": "name"} where a parameter goes',
    "records": "a JMESPath expression to the list of records",
    "columns": 'a list of {"name", "path", "type"}',
    "pagination": 'how to reach the next page ({"type": "next_link" | "page" | "cursor", …})',
    "max_pages": "the most pages read (100)",
    "timeout": "seconds to wait for the server (30)",
    "retries": "how often a failed request is tried again (3)",
}
PAGINATION_KEYS = {
    "next_link": {"type", "path"},
    "page": {"type", "param", "start"},
    "cursor": {"type", "path", "param"},
}
MAX_URL_LENGTH = 2000

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# A prefix is an authentication scheme ("Bearer ", "Token "), never a place for the secret.
_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,19} ?$")
_CREDENTIAL_HEADER = re.compile(r"auth|token|key|secret|password|cookie|session", re.IGNORECASE)
_CLIENT_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "accept-encoding"}


@dataclass(frozen=True)
class EnvValue:
    env: str
    prefix: str = ""


@dataclass(frozen=True)
class Pagination:
    type: str
    path: Any = None  # a compiled JMESPath expression
    param: str = ""
    start: int = 1


@dataclass(frozen=True)
class ApiConfig:
    method: str
    url: str
    headers: Mapping[str, str | EnvValue]
    body: Any
    records: Any
    columns: list[ColumnSpec] | None
    pagination: Pagination | None
    max_pages: int
    timeout: float
    retries: int


def api_config(query: str, config: Mapping[str, Any]) -> ApiConfig:
    if query.strip():
        raise DataSourceError("An api data source takes no query: its config holds the request.")
    config_keys_check(config, allowed=CONFIG_KEYS, kind="api")
    method = config.get("method", "GET")
    if method not in ("GET", "POST"):
        raise DataSourceError(f'The "method" must be "GET" or "POST", not {method!r}.')
    if "body" in config and method != "POST":
        raise DataSourceError('Only a POST sends a "body": set "method" to "POST".')
    body_parameters(config.get("body"))
    records = config.get("records")
    return ApiConfig(
        method=method,
        url=_url_template(config.get("url")),
        headers=_headers(config.get("headers", {})),
        body=config.get("body"),
        records=_expression(records, 'The "records" path') if records else None,
        columns=_columns(config.get("columns")),
        pagination=_pagination(config.get("pagination")),
        max_pages=_whole_number(config, "max_pages", default=100, high=10_000),
        timeout=_timeout(config.get("timeout", 30)),
        retries=_whole_number(config, "retries", default=3, low=0, high=10),
    )


def _url_template(url: Any) -> str:
    if not isinstance(url, str) or not url.strip():
        raise DataSourceError('Give the "url" to request.')
    url = url.strip()
    if len(url) > MAX_URL_LENGTH or any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise DataSourceError(
            f"The URL must be at most {MAX_URL_LENGTH} characters, without spaces."
        )
    try:
        parts = urlsplit(url)
        has_credentials = parts.username is not None
    except ValueError as error:
        raise DataSourceError(f"The URL cannot be read: {error}.") from None
    if "{" in parts.scheme + parts.netloc:
        raise DataSourceError("Parameters go in the URL's path or query, not in its host.")
    if has_credentials:
        raise DataSourceError(
            "No user name or password in the URL: send credentials in a header whose value "
            'names an environment variable ({"env": "VARIABLE"}).'
        )
    if {"{", "}"} & set(PLACEHOLDER.sub("", url)):
        raise DataSourceError("Braces in the URL mark parameters: {name} (letters, digits, _).")
    return url


def _headers(headers: Any) -> dict[str, str | EnvValue]:
    if not isinstance(headers, Mapping):
        raise DataSourceError('"headers" must be an object of header names and values.')
    return {name: _header_value(name, value) for name, value in headers.items()}


def _header_value(name: str, value: Any) -> str | EnvValue:
    if not _HEADER_NAME.match(name) or name.lower() in _CLIENT_HEADERS:
        raise DataSourceError(f"The header {name!r} cannot be set here.")
    if isinstance(value, str) and not _CREDENTIAL_HEADER.search(name):
        if "\r" in value or "\n" in value:
            raise DataSourceError(f"The value of the header {name} has a line break.")
        return value
    if isinstance(value, str):
        raise DataSourceError(
            f"The header {name} looks like a credential: give the environment variable that "
            f'holds it, {{"env": "VARIABLE", "prefix": "…"}}, so the secret is never stored.'
        )
    if (
        isinstance(value, Mapping)
        and set(value) <= {"env", "prefix"}
        and _ENV_NAME.match(str(value.get("env", "")))
        and isinstance(value.get("prefix", ""), str)
        and (value.get("prefix", "") == "" or _PREFIX.match(value["prefix"]))
    ):
        return EnvValue(env=value["env"], prefix=value.get("prefix", ""))
    raise DataSourceError(
        f'The header {name} must be a text or {{"env": "VARIABLE", "prefix": "…"}}, the '
        'prefix a scheme word such as "Bearer " (the secret goes in the variable).'
    )


def _marker(value: Any) -> str | None:
    if not isinstance(value, Mapping) or "$param" not in value:
        return None
    name = value["$param"]
    if len(value) != 1 or not isinstance(name, str) or not _ENV_NAME.match(name):
        raise DataSourceError('A {"$param": "name"} marker holds one parameter name, alone.')
    return name


def body_parameters(value: Any) -> set[str]:
    marker = _marker(value)
    if marker is not None:
        return {marker}
    if isinstance(value, Mapping):
        value = list(value.values())
    if isinstance(value, list):
        return set().union(*map(body_parameters, value))
    return set()


def _expression(text: Any, what: str) -> Any:
    if not isinstance(text, str) or not text.strip():
        raise DataSourceError(f"{what} must be a JMESPath expression.")
    try:
        return jmespath.compile(text)
    except JMESPathError as error:
        raise DataSourceError(f"{what} {text!r} is not valid JMESPath: {error}") from None


def _columns(columns: Any) -> list[ColumnSpec] | None:
    if columns is None:
        return None
    if not isinstance(columns, list) or not columns:
        raise DataSourceError('"columns" must be a list of {"name", "path", "type"} objects.')
    specs = [_column(each) for each in columns]
    names = [spec.column.name for spec in specs]
    if len(set(names)) != len(names):
        raise DataSourceError("Two columns have the same name.")
    return specs


def _column(spec: Any) -> ColumnSpec:
    if (
        not isinstance(spec, Mapping)
        or set(spec) - {"name", "path", "type"}
        or not isinstance(spec.get("name"), str)
        or not spec["name"]
    ):
        raise DataSourceError(
            'Each column is {"name": …, "path": JMESPath in a record (default: the name), '
            f'"type": one of {", ".join(COLUMN_TYPES)}}}.'
        )
    name, column_type = spec["name"], spec.get("type", "string")
    if column_type not in COLUMN_TYPES:
        raise DataSourceError(
            f"The column {name!r} has the unknown type {column_type!r}: choose one of "
            f"{', '.join(COLUMN_TYPES)}."
        )
    expression = _expression(spec.get("path", name), f"The path of the column {name!r}")
    return ColumnSpec(Column(name, column_type), expression.search)


def _pagination(spec: Any) -> Pagination | None:
    if spec is None:
        return None
    kind = spec.get("type") if isinstance(spec, Mapping) else None
    if kind not in PAGINATION_KEYS or set(spec) - PAGINATION_KEYS[kind]:
        raise DataSourceError(
            '"pagination" is {"type": "next_link", "path": …}, {"type": "page", "param": '
            '"page", "start": 1} or {"type": "cursor", "path": …, "param": "cursor"}.'
        )
    path = _expression(spec.get("path"), "The pagination path") if kind != "page" else None
    param = spec.get("param", kind)
    if not isinstance(param, str) or not param.strip():
        raise DataSourceError('The pagination "param" must be a query parameter name.')
    start = _whole_number(spec, "start", default=1, low=0, high=10**9)
    return Pagination(type=kind, path=path, param=param, start=start)


def _whole_number(
    config: Mapping[str, Any], key: str, *, default: int, low: int = 1, high: int
) -> int:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise DataSourceError(f'"{key}" must be a whole number from {low} to {high}.')
    return value


def _timeout(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 300:
        raise DataSourceError('"timeout" must be a number of seconds above 0, at most 300.')
    return value


def url_filled(template: str, parameters: Mapping[str, Any]) -> str:
    return PLACEHOLDER.sub(
        lambda match: quote(url_text(parameters.get(match.group(1))), safe=""), template
    )


def url_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ",".join(map(url_text, value))
    if isinstance(value, bool | dict):
        return json.dumps(value)
    return str(value)


def with_query(url: str, param: str, value: Any) -> str:
    """The URL with `param` set to `value` in its query, the other query bytes untouched."""
    parts = urlsplit(url)
    kept = [
        pair
        for pair in parts.query.split("&")
        if pair and unquote(pair.partition("=")[0].replace("+", " ")) != param
    ]
    kept.append(f"{quote(param, safe='')}={quote(url_text(value), safe='')}")
    return parts._replace(query="&".join(kept)).geturl()


def body_bytes(body: Any, parameters: Mapping[str, Any]) -> bytes | None:
    if body is None:
        return None
    return json.dumps(_body_filled(body, parameters), default=str).encode()


def _body_filled(value: Any, parameters: Mapping[str, Any]) -> Any:
    marker = _marker(value)
    if marker is not None:
        return parameters.get(marker)
    if isinstance(value, Mapping):
        return {key: _body_filled(each, parameters) for key, each in value.items()}
    if isinstance(value, list):
        return [_body_filled(each, parameters) for each in value]
    return value
