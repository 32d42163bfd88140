from typing import BinaryIO

from reporting.renderers import register
from reporting.renderers.layout import render_layout
from reporting.tables import ReportDocument


class HtmlRenderer:
    """The report's layout as one standalone page: styles inline, the logo as a data: URI.

    Like the PDF, each table shows at most `pdf_max_rows` rows and says when it was cut.
    """

    format = "html"

    def media(self, document: ReportDocument) -> tuple[str, str]:
        return "text/html; charset=utf-8", "html"

    def render(self, document: ReportDocument, out: BinaryIO) -> None:
        out.write(render_layout(document).encode("utf-8"))


register(HtmlRenderer())
