"""The demo's delivery target: a local folder, so a newcomer sees a report delivered with no
mail server or bucket."""

from pathlib import Path

from django.db import transaction

from accounts.models import Organization
from delivery.channels.local_folder import organization_folder
from delivery.models import DeliveryKind, DeliveryTarget
from delivery.services import target_create

DEMO_TARGET_NAME = "Demo folder"
DEMO_FOLDER = "demo"


@transaction.atomic
def sample_delivery_target_load(*, organization: Organization) -> tuple[DeliveryTarget, bool]:
    """The organisation's demo folder target and whether it was created now. Idempotent: one
    that exists under the demo name (changed or not) is kept as it is."""
    existing = DeliveryTarget.objects.filter(organization=organization, name=DEMO_TARGET_NAME)
    if target := existing.first():
        return target, False
    target = target_create(
        organization=organization,
        created_by=None,
        name=DEMO_TARGET_NAME,
        kind=DeliveryKind.STORAGE,
        config={"backend": "local", "path": DEMO_FOLDER},
    )
    return target, True


def sample_delivery_folder(*, organization: Organization) -> Path:
    """Where the demo target writes: `<first delivery root>/<organisation id>/demo/`."""
    return organization_folder(str(organization.pk)) / DEMO_FOLDER
