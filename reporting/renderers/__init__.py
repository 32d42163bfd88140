"""Output formats: one module per format, one interface (`base.Renderer`), this registry.

A format's module is imported the first time that format is rendered, and registers its renderer
as it loads: PDF and XLSX pull in large libraries that a web process or a CSV export never needs.
"""

from importlib import import_module

from reporting.renderers.base import Renderer

RENDERER_MODULES: dict[str, str] = {
    "csv": "reporting.renderers.csv",
    "html": "reporting.renderers.html",
    "json": "reporting.renderers.json",
    "pdf": "reporting.renderers.pdf",
    "xlsx": "reporting.renderers.xlsx",
}
RENDERERS: dict[str, Renderer] = {}


def register(renderer: Renderer) -> Renderer:
    RENDERERS[renderer.format] = renderer
    return renderer


def get_renderer(output_format: str) -> Renderer:
    """The format's renderer, its module imported on first use; KeyError for an unknown format."""
    if output_format not in RENDERERS:
        import_module(RENDERER_MODULES[output_format])
    return RENDERERS[output_format]
