from rest_framework import serializers

from delivery.models import Delivery, DeliveryAttempt, DeliveryKind, DeliveryTarget
from delivery.services import target_public_config, target_secrets_set


class DeliveryTargetSerializer(serializers.ModelSerializer):
    config = serializers.SerializerMethodField()
    secrets_set = serializers.SerializerMethodField(
        help_text="The names of the stored secrets (e.g. secret), never their values."
    )

    class Meta:
        model = DeliveryTarget
        fields = [
            "id", "name", "kind", "config", "secrets_set", "enabled", "created_at", "updated_at",
        ]  # fmt: skip

    def get_config(self, target: DeliveryTarget) -> dict:
        """Secrets (a webhook's, S3 keys) are write-only: never shown back."""
        return target_public_config(target)

    def get_secrets_set(self, target: DeliveryTarget) -> list[str]:
        return target_secrets_set(target)


class DeliveryTargetWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=DeliveryKind.choices)
    config = serializers.JSONField(
        help_text=(
            'By kind. storage, local: {"backend": "local", "path": "monthly", '
            '"filename_pattern"?}; files land in <root>/<organisation id>/<path>/ under the '
            "first of DELIVERY_STORAGE_ROOTS (default var/deliveries); an absolute path must "
            "lie inside <a root>/<organisation id>/, and paths that leave that folder (.., "
            'links) are a 400 under "config". See the README for email, s3 and webhook. '
            "Secrets (secret, access_key_id, secret_access_key) are write-only and stored "
            "encrypted; an update without them keeps the stored ones."
        )
    )
    enabled = serializers.BooleanField(required=False)


class DeliveryAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = DeliveryAttempt
        fields = ["number", "started_at", "duration_ms", "outcome", "response_status", "error"]


class DeliverySerializer(serializers.ModelSerializer):
    target_name = serializers.CharField(source="target.name", read_only=True)
    attempt_history = DeliveryAttemptSerializer(
        many=True,
        read_only=True,
        help_text="Every attempt, oldest first. An attempt still `started` with no duration is "
        "in flight, or its worker stopped; the delivery is tried again once its lease runs out.",
    )

    class Meta:
        model = Delivery
        fields = [
            "id", "delivery_id", "execution", "target", "target_name", "status", "attempts",
            "last_error", "response_status", "next_attempt_at", "sent_at", "created_at",
            "attempt_history",
        ]  # fmt: skip
