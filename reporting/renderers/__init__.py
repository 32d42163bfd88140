"""Output formats: one module per format, one interface (`base.Renderer`), this registry.

Each format module registers its renderer when imported; the imports at the end load them all.
"""

from reporting.renderers.base import Renderer

RENDERERS: dict[str, Renderer] = {}


def register(renderer: Renderer) -> Renderer:
    RENDERERS[renderer.format] = renderer
    return renderer


def get_renderer(output_format: str) -> Renderer:
    return RENDERERS[output_format]


from reporting.renderers import csv, html, json, pdf, xlsx  # noqa: E402, F401
