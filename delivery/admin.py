from django import forms
from django.contrib import admin, messages

from accounts.admin_scoping import TenantScopedAdmin, TenantScopedInline, administered_ids
from config.errors import ApplicationError
from delivery import services
from delivery.channels.base import ConfigError
from delivery.models import Delivery, DeliveryAttempt, DeliveryTarget
from reporting.admin import _apply_errors
from reporting.forms import PrettyJSONField, pretty_json_widget


class DeliveryTargetForm(forms.ModelForm):
    config = PrettyJSONField(
        widget=pretty_json_widget(),
        help_text="Secrets (secret, access_key_id, secret_access_key) are write-only: they are "
        "stored encrypted and never shown; leave them out to keep the stored ones.",
    )

    class Meta:
        model = DeliveryTarget
        fields = ["organization", "name", "kind", "config", "enabled"]

    def clean(self):
        cleaned = super().clean()
        if not self.errors:
            try:
                services.target_fields_apply(target=self.instance, fields=dict(cleaned))
            except ConfigError as error:
                self.add_error("config", _config_reasons(error))
            except ApplicationError as error:
                _apply_errors(self, error)
            else:
                # The whole config, stored secrets joined in, until save_model seals them.
                cleaned["config"] = self.instance.config
        return cleaned


def _config_reasons(error: ConfigError) -> list[str]:
    """The config's own fields named in its reasons: "path: Must be inside …"."""
    return [
        f"{field}: {reason}" for field, reasons in error.config_errors.items() for reason in reasons
    ]


@admin.register(DeliveryTarget)
class DeliveryTargetAdmin(TenantScopedAdmin):
    form = DeliveryTargetForm
    list_display = ["name", "organization", "kind", "enabled", "updated_at"]
    list_filter = ["kind", "enabled", "organization"]
    search_fields = ["name"]
    readonly_fields = ["secrets_set"]
    actions = ["send_test"]

    @admin.display(description="Stored secrets")
    def secrets_set(self, target: DeliveryTarget) -> str:
        names = services.target_secrets_set(target) if target.pk else []
        return ", ".join(f"{name}: set" for name in names) or "none"

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        services.target_store(target=obj)

    @admin.action(description="Send a test message")
    def send_test(self, request, queryset):
        for target in queryset:
            ok, message = services.target_test(target=target)
            self.message_user(
                request, f"{target.name}: {message}", messages.SUCCESS if ok else messages.ERROR
            )


class DeliveryAttemptInline(TenantScopedInline, admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = ["number", "started_at", "duration_ms", "outcome", "response_status", "error"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        # Attempts reach their organisation through the delivery's execution, a path the
        # shared scoping does not follow; the parent delivery was scoped already.
        ids = administered_ids(request)
        attempts = DeliveryAttempt.objects.all()
        return (
            attempts if ids is None else attempts.filter(delivery__execution__organization__in=ids)
        )


@admin.register(Delivery)
class DeliveryAdmin(TenantScopedAdmin):
    list_display = [
        "execution", "target", "status", "attempts", "response_status", "last_error", "sent_at",
        "next_attempt_at",
    ]  # fmt: skip
    list_filter = ["status", "target__kind"]
    search_fields = ["last_error", "target__name"]
    readonly_fields = [f.name for f in Delivery._meta.fields]
    list_select_related = ["execution__template", "target"]
    actions = ["redeliver"]
    inlines = [DeliveryAttemptInline]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Deliver again")
    def redeliver(self, request, queryset):
        for delivery in queryset:
            services.delivery_redeliver(delivery=delivery)
        self.message_user(request, f"{queryset.count()} deliveries queued again.")
