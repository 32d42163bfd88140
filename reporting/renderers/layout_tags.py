"""The only tags and filters a report layout may use: Django's built-in ones without `debug`
(it prints the context and internal paths). The layout engine has no other libraries, so
`{% load %}` of anything is refused when the layout is compiled."""

from django.template import Library, defaultfilters, defaulttags, loader_tags

FORBIDDEN_TAGS = {"debug"}

register = Library()
register.tags.update(
    (name, tag) for name, tag in defaulttags.register.tags.items() if name not in FORBIDDEN_TAGS
)
register.tags.update(loader_tags.register.tags)
register.filters.update(defaultfilters.register.filters)
