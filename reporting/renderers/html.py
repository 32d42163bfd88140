from dataclasses import replace
from typing import BinaryIO

from reporting.renderers import register
from reporting.renderers.layout import render_layout
from reporting.tables import ReportDocument


class HtmlRenderer:
    """The report's layout as one standalone page: styles inline, the logo as a data: URI.

    Each table shows at most `html_max_rows` rows (and no more than the PDF) and says when it
    was cut: the page is built in memory and opened whole in a browser.
    """

    format = "html"

    def media(self, document: ReportDocument) -> tuple[str, str]:
        return "text/html; charset=utf-8", "html"

    def render(self, document: ReportDocument, out: BinaryIO) -> None:
        shown = min(document.pdf_max_rows, document.html_max_rows)
        out.write(render_layout(replace(document, pdf_max_rows=shown)).encode("utf-8"))


register(HtmlRenderer())
