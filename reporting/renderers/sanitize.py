"""The last step of every HTML and PDF layout: nh3 (ammonia) keeps only what a report needs.

Whatever a layout or a value put there, no `<script>`, event handler (`on…=`), `javascript:`
URL or remote resource reaches the file. Images take data: URIs only (the logo is inlined);
inline SVG keeps the elements and attributes the charts draw with.
"""

import nh3

DOCUMENT_TAGS = {"head", "title", "meta", "style", "body", "main"}
TEXT_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "col", "colgroup", "dd", "div",
    "dl", "dt", "em", "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6",
    "header", "hr", "i", "img", "li", "ol", "p", "pre", "section", "small", "span", "strong",
    "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul", "article",
    "aside", "nav", "mark", "time", "s",
}  # fmt: skip
SVG_TAGS = {"svg", "g", "title", "rect", "line", "polyline", "polygon", "path", "circle", "text"}
GLOBAL_ATTRIBUTES = {"class", "id", "style", "lang", "dir", "title", "role", "aria-label"}
ATTRIBUTES = {
    "meta": {"charset", "name", "content"},
    "img": {"src", "alt", "width", "height"},
    "a": {"href"},
    "td": {"colspan", "rowspan", "headers"},
    "th": {"colspan", "rowspan", "headers", "scope"},
    "col": {"span"},
    "colgroup": {"span"},
    "time": {"datetime"},
    "svg": {"xmlns", "width", "height", "viewBox", "font-family", "font-size"},
    "g": {"transform", "fill", "stroke"},
    "rect": {"x", "y", "width", "height", "fill", "stroke"},
    "line": {"x1", "x2", "y1", "y2", "stroke", "stroke-width"},
    "polyline": {"points", "fill", "stroke", "stroke-width"},
    "polygon": {"points", "fill", "stroke", "stroke-width"},
    "path": {"d", "fill", "stroke", "stroke-width"},
    "circle": {"cx", "cy", "r", "fill", "stroke"},
    "text": {"x", "y", "fill", "text-anchor", "font-size", "font-weight"},
}
# nh3 drops URLs of other schemes (javascript:…); `_keep_attribute` narrows data: to images.
URL_SCHEMES = {"http", "https", "mailto", "data"}


def _keep_attribute(element: str, attribute: str, value: str) -> str | None:
    if element == "img" and attribute == "src":
        return value if value.lower().startswith("data:image/") else None
    if attribute == "href" and value.strip().lower().startswith("data:"):
        return None
    return value


def html_clean(html: str) -> str:
    """The layout's HTML with only the allowed tags and attributes, as a whole document."""
    body = nh3.clean(
        html,
        tags=DOCUMENT_TAGS | TEXT_TAGS | SVG_TAGS,
        clean_content_tags={"script"},
        attributes={"*": GLOBAL_ATTRIBUTES, **ATTRIBUTES},
        attribute_filter=_keep_attribute,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer",
        strip_comments=True,
    )
    # nh3 cleans a fragment: <html> and the doctype go, and the parser puts the leading
    # <meta>, <title> and <style> back into the head, so the page renders as before.
    return f"<!DOCTYPE html>\n<html>\n{body}\n</html>\n"
