"""What a report may fetch while WeasyPrint renders it. Its own module so that importing the
renderers does not import WeasyPrint (about 40 MB and most of a second per process): only a
process that renders a PDF loads it."""

from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

from weasyprint.urls import URLFetcher

from reporting.renderers.layout import static_path


class StaticOnlyURLFetcher(URLFetcher):
    """WeasyPrint's fetcher, allowed `data:` URIs and files under static/ and nothing else.

    Raising makes WeasyPrint log the refusal and render without the resource. Redirects are
    no way around it: urllib's redirect handler opens the new URL through `fetch` again.
    """

    def fetch(self, url: str, headers: dict[str, str] | None = None) -> Any:
        scheme = urlsplit(url).scheme.lower()
        if scheme == "file" and static_path(url2pathname(urlsplit(url).path)) is None:
            raise ValueError(f"Only files under static/ may be used in a report: {url}")
        if scheme not in ("data", "file"):
            raise ValueError(f"Reports may not fetch {scheme or 'relative'} URLs: {url}")
        return super().fetch(url, headers)
