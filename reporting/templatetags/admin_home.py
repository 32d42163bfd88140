from django import template
from django.utils import timezone

from reporting.admin_home import admin_home_get

register = template.Library()


@register.inclusion_tag("admin/reporting/home.html", takes_context=True)
def admin_home(context) -> dict:
    return {"home": admin_home_get(user=context["request"].user, now=timezone.now())}
