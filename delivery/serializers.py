from rest_framework import serializers

from delivery.models import Delivery, DeliveryKind, DeliveryTarget
from delivery.services import target_public_config


class DeliveryTargetSerializer(serializers.ModelSerializer):
    config = serializers.SerializerMethodField()

    class Meta:
        model = DeliveryTarget
        fields = ["id", "name", "kind", "config", "enabled", "created_at", "updated_at"]

    def get_config(self, target: DeliveryTarget) -> dict:
        """Secrets (a webhook's, S3 keys) are write-only: never shown back."""
        return target_public_config(target)


class DeliveryTargetWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=DeliveryKind.choices)
    config = serializers.JSONField()
    enabled = serializers.BooleanField(required=False)


class DeliverySerializer(serializers.ModelSerializer):
    target_name = serializers.CharField(source="target.name", read_only=True)

    class Meta:
        model = Delivery
        fields = [
            "id", "delivery_id", "execution", "target", "target_name", "status", "attempts",
            "last_error", "response_status", "next_attempt_at", "sent_at", "created_at",
        ]  # fmt: skip
