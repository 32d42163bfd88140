from django import forms
from django.contrib import admin, messages

from config.errors import ApplicationError
from delivery import services
from delivery.channels.base import ConfigError
from delivery.models import Delivery, DeliveryTarget
from reporting.admin import _apply_errors
from reporting.forms import PrettyJSONField, pretty_json_widget


class DeliveryTargetForm(forms.ModelForm):
    config = PrettyJSONField(widget=pretty_json_widget())

    class Meta:
        model = DeliveryTarget
        fields = ["organization", "name", "kind", "config", "enabled"]

    def clean(self):
        cleaned = super().clean()
        if not self.errors:
            target = self.instance
            for name, value in cleaned.items():
                setattr(target, name, value)
            try:
                services.target_validate(target)
            except ConfigError as error:
                self.add_error("config", _config_reasons(error))
            except ApplicationError as error:
                _apply_errors(self, error)
        return cleaned


def _config_reasons(error: ConfigError) -> list[str]:
    """The config's own fields named in its reasons: "path: Must be inside …"."""
    return [
        f"{field}: {reason}" for field, reasons in error.config_errors.items() for reason in reasons
    ]


@admin.register(DeliveryTarget)
class DeliveryTargetAdmin(admin.ModelAdmin):
    form = DeliveryTargetForm
    list_display = ["name", "organization", "kind", "enabled", "updated_at"]
    list_filter = ["kind", "enabled", "organization"]
    search_fields = ["name"]
    actions = ["send_test"]

    @admin.action(description="Send a test message")
    def send_test(self, request, queryset):
        for target in queryset:
            ok, message = services.target_test(target=target)
            self.message_user(
                request, f"{target.name}: {message}", messages.SUCCESS if ok else messages.ERROR
            )


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = [
        "execution", "target", "status", "attempts", "response_status", "last_error", "sent_at",
        "next_attempt_at",
    ]  # fmt: skip
    list_filter = ["status", "target__kind"]
    search_fields = ["last_error", "target__name"]
    readonly_fields = [f.name for f in Delivery._meta.fields]
    list_select_related = ["execution__template", "target"]
    actions = ["redeliver"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Deliver again")
    def redeliver(self, request, queryset):
        for delivery in queryset:
            services.delivery_redeliver(delivery=delivery)
        self.message_user(request, f"{queryset.count()} deliveries queued again.")
