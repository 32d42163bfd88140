"""The template engine report layouts render with: a separate Django `Engine`, not the site's.

Layouts are written by an organisation's analysts, so the engine knows only the tags and
filters of `layout_tags` (Django's own without `debug`), no `{% load %}` libraries, and loads
`{% include %}` and `{% extends %}` targets from the report layouts folder only
(REPORT_TEMPLATE_DIR, then the project's templates/reports for the default layout's parts).
"""

from collections.abc import Iterator
from functools import cache
from pathlib import Path

from django.conf import settings
from django.template import Engine, Origin, Template, TemplateDoesNotExist, TemplateSyntaxError
from django.template.loader_tags import ExtendsNode, IncludeNode
from django.template.loaders.filesystem import Loader as FilesystemLoader

DEFAULT_LAYOUT_DIR = (Path(__file__).resolve().parents[2] / "templates" / "reports").resolve()
# Layouts name the default layout's parts as the site's engine did: "reports/_table.html".
NAME_PREFIX = "reports/"
LAYOUT_ORIGIN = "layout.html"


class LayoutEngine(Engine):
    # Engine adds Django's full tag set (with `debug`) to any builtins given: replace it.
    default_builtins = ["reporting.renderers.layout_tags"]


class LayoutLoader(FilesystemLoader):
    """Files of the layout folders only: Django's `safe_join` refuses absolute names and `..`."""

    def get_template_sources(self, template_name: str) -> Iterator[Origin]:
        yield from super().get_template_sources(template_name)
        if template_name.startswith(NAME_PREFIX):
            yield from super().get_template_sources(template_name.removeprefix(NAME_PREFIX))


@cache
def _engine(folder: str) -> LayoutEngine:
    dirs = [folder, str(DEFAULT_LAYOUT_DIR)]
    return LayoutEngine(
        dirs=dirs,
        loaders=[("reporting.renderers.layout_engine.LayoutLoader", dirs)],
        libraries={},
        autoescape=True,
    )


def layout_engine() -> LayoutEngine:
    return _engine(str(Path(settings.REPORT_TEMPLATE_DIR).resolve()))


def layout_template(source: str) -> Template:
    """A layout's own text compiled. Its origin has a name so that Django can refuse a
    relative include ("../x") that leaves the folder instead of failing on a missing name."""
    engine = layout_engine()
    return Template(
        source, origin=Origin(LAYOUT_ORIGIN, template_name=LAYOUT_ORIGIN), engine=engine
    )


def layout_compile(source: str) -> Template:
    """The layout compiled, its named includes and extends found in the layouts folder; else
    TemplateSyntaxError saying which tag or name is refused. (A name held in a variable can
    only be checked when the report renders, by the loader.)"""
    engine = layout_engine()
    template = layout_template(source)
    for node in template.nodelist.get_nodes_by_type((IncludeNode, ExtendsNode)):
        name = node.template if isinstance(node, IncludeNode) else node.parent_name
        if isinstance(name.var, str) and not name.filters:
            try:
                engine.find_template(name.var)
            except TemplateDoesNotExist:
                tag = "include" if isinstance(node, IncludeNode) else "extends"
                raise TemplateSyntaxError(
                    f"{{% {tag} {name.var!r} %}}: layouts may only {tag} files of the report "
                    "layouts folder."
                ) from None
    return template
