"""Reading NDJSON and JSON files as raw tables, streaming: NDJSON line by line, a JSON
document through raw_decode over chunks, also along a `records` path."""

import json
import re
from collections.abc import Iterator
from itertools import chain
from typing import IO, Any

from reporting.datasources.base import DataSourceError
from reporting.datasources.file.config import FileConfig
from reporting.datasources.file.readers import RawTable, _text_stream, _undecodable

JSON_CHUNK_CHARS = 64 * 1024
MAX_JSON_VALUE_CHARS = 16 * 1024 * 1024


def _ndjson_table(binary: IO[bytes], file_config: FileConfig) -> RawTable:
    text = _text_stream(binary, file_config)
    return _json_table(_ndjson_lines(text, file_config), file_config, "line")


def _ndjson_lines(text: IO[str], file_config: FileConfig) -> Iterator[tuple[int, Any]]:
    number = 0
    try:
        for number, line in enumerate(text, 1):
            if line.strip():
                yield number, json.loads(line)
    except json.JSONDecodeError as error:
        raise DataSourceError(
            f"{file_config.label} is not valid NDJSON at line {number}: {error.msg}."
        ) from None
    except UnicodeDecodeError as error:
        raise _undecodable(file_config, error, f"line {number + 1}") from None


def _json_document_table(binary: IO[bytes], file_config: FileConfig) -> RawTable:
    document = JsonDocument(_text_stream(binary, file_config), file_config)
    records = enumerate(_json_records(document, file_config.records), 1)
    return _json_table(records, file_config, "record")


def _json_table(
    records: Iterator[tuple[int, Any]], file_config: FileConfig, where: str
) -> RawTable:
    fields = [name for name, _ in file_config.columns]
    if not fields:
        first = next(records, None)
        if first is None:
            raise DataSourceError(
                f'{file_config.label} has no records to take the columns from: list "columns".'
            )
        fields = list(_json_record(*first, file_config, where))
        records = chain([first], records)
    return RawTable(fields, _json_values(records, fields, file_config, where), where, text=False)


def _json_values(
    records: Iterator[tuple[int, Any]], fields: list[str], file_config: FileConfig, where: str
) -> Iterator[tuple[int, list[Any]]]:
    for number, record in records:
        values = _json_record(number, record, file_config, where)
        yield number, [values.get(field) for field in fields]


def _json_record(number: int, record: Any, file_config: FileConfig, where: str) -> dict[str, Any]:
    if not isinstance(record, dict):
        raise DataSourceError(
            f"{file_config.label}, {where} {number}: a record must be an object, not "
            f"{type(record).__name__}."
        )
    return record


class JsonDocument:
    """A JSON text read in chunks, one value at a time (json.JSONDecoder.raw_decode), so a
    list of records streams however long it is; only the current value is held."""

    _WHITESPACE = re.compile(r"[ \t\n\r]*")
    _DECODER = json.JSONDecoder()

    def __init__(self, text: IO[str], file_config: FileConfig) -> None:
        self.text, self.file_config = text, file_config
        self.buffer, self.position, self.lines_before, self.ended = "", 0, 0, False

    def next_char(self) -> str:
        """The next character after whitespace, not consumed; "" at the end of the text."""
        while True:
            self.position = self._WHITESPACE.match(self.buffer, self.position).end()
            if self.position < len(self.buffer):
                return self.buffer[self.position]
            if not self._fill():
                return ""

    def take(self, expected: str) -> str:
        char = self.next_char()
        if not char or char not in expected:
            wanted = " or ".join(repr(c) for c in expected)
            raise self.error(f"expected {wanted}", self.position)
        self.position += 1
        return char

    def value(self) -> Any:
        self.next_char()
        while True:
            try:
                value, end = self._DECODER.raw_decode(self.buffer, self.position)
                # A number at the buffer's end may go on in the next chunk.
                if end < len(self.buffer) or self.ended:
                    self.position = end
                    return value
            except json.JSONDecodeError as error:
                if self.ended:
                    raise self.error(error.msg, error.pos) from None
            self._fill()

    def error(self, message: str, position: int) -> DataSourceError:
        line = self.lines_before + self.buffer.count("\n", 0, position) + 1
        return DataSourceError(
            f"{self.file_config.label} is not valid JSON at line {line}: {message}."
        )

    def _fill(self) -> bool:
        try:
            chunk = self.text.read(JSON_CHUNK_CHARS)
        except UnicodeDecodeError as error:
            line = self.lines_before + self.buffer.count("\n") + 1
            raise _undecodable(self.file_config, error, f"after line {line}") from None
        self.ended = not chunk
        self.lines_before += self.buffer.count("\n", 0, self.position)
        self.buffer, self.position = self.buffer[self.position :] + chunk, 0
        if len(self.buffer) > MAX_JSON_VALUE_CHARS:
            raise self.error(
                f"a value longer than {MAX_JSON_VALUE_CHARS:,} characters (or broken JSON)", 0
            )
        return not self.ended


def _json_records(document: JsonDocument, path: tuple[str, ...]) -> Iterator[Any]:
    for depth, key in enumerate(path):
        _json_key_enter(document, key, ".".join(path[: depth + 1]))
    if document.next_char() != "[":
        where = f'"records" {".".join(path)!r}' if path else "the top level"
        raise DataSourceError(
            f'{document.file_config.label}: {where} is not a list of records; set "records" '
            "to the dotted path of the list."
        )
    document.take("[")
    if document.next_char() == "]":
        return
    while True:
        yield document.value()
        if document.take(",]") == "]":
            return


def _json_key_enter(document: JsonDocument, key: str, dotted: str) -> None:
    """Moves the document to the value of `key` in the object it is at."""
    missing = DataSourceError(f'{document.file_config.label} has no "records" path {dotted!r}.')
    if document.next_char() != "{":
        raise missing
    document.take("{")
    if document.next_char() == "}":
        raise missing
    while True:
        name = document.value()
        document.take(":")
        if name == key:
            return
        document.value()  # a sibling before the records: read whole, then dropped
        if document.take(",}") == "}":
            raise missing
