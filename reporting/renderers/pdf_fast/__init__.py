"""The PDF's fast path: long tables drawn by ReportLab, the rest of the layout by WeasyPrint.

Why: WeasyPrint's time and memory grow with a table's rows (a 10,000-row table took 33 s and
448 MB in chunks on two workers); ReportLab's canvas draws the same rows in a fraction of that
time, holding each finished page compressed (a few kB) and the rows streamed from the spool. A
table of at least `PdfRenderer.fast_rows` shown rows whose layout draws it with the default
table part (`reports/_table.html`, which marks it with the class `rh-drawn-apart`) goes this
way; see `pdf.py` for where the threshold comes from.

How the look is kept: the layout is rendered with the table's header and first two rows only,
hidden but laid out. WeasyPrint's boxes of that table give the geometry and style ReportLab draws
with: where the table starts, the page's content area, each column's position, width, padding,
alignment and clipping, the row heights and baselines, fonts, colours, the header's and the
zebra rows' backgrounds. The same TrueType files are registered with ReportLab (found by
fontconfig, as WeasyPrint finds them); ReportLab draws everything it draws into one file, so
each font is embedded once there (WeasyPrint's pages carry their own subset of it).

How pages join: the document is cut at each such table. The part before it (with the hidden
table at its end) is rendered by WeasyPrint; the table's first page is drawn over that part's
last page, from where the hidden table stood; the table's header row repeats on every page;
what follows the table starts on a new page. Page margin boxes (footer text, "Page N of M") are
drawn by ReportLab on every page from the content, style and position WeasyPrint resolved for
them on a one-page stamp, with `counter(page)` and `counter(pages)` counted over the whole
document. Layouts whose margin boxes hold other content (running elements, string-set) take the
all-WeasyPrint path.
"""

from reporting.renderers.pdf_fast.looks import DRAWN_APART, FastPathRefused
from reporting.renderers.pdf_fast.parts import render_fast

__all__ = ["DRAWN_APART", "FastPathRefused", "render_fast"]
