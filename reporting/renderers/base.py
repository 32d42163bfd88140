from typing import BinaryIO, Protocol

from reporting.tables import ReportDocument


class Renderer(Protocol):
    """Turns a report document into the bytes of one file format, streaming its rows.

    `media(document)` gives (content type, file extension without dot): CSV, say, is a .csv for
    one table and a .zip of .csv files for several. `render` writes the file to `out` and
    must not hold a table's rows in memory; it touches no ORM and no settings.
    """

    format: str

    def media(self, document: ReportDocument) -> tuple[str, str]: ...

    def render(self, document: ReportDocument, out: BinaryIO) -> None: ...
