"""Inputs the fuzzer found answering 500: each is a 400 naming the field and the reason."""

from delivery.models import DeliveryTarget

BI = "/api/v1/business-intelligence"


def test_changing_a_target_config_to_something_not_an_object_is_a_400(
    admin_client_api, organization
):
    target = DeliveryTarget.objects.create(
        organization=organization,
        name="Finance",
        kind="email",
        config={"recipients": ["finance@example.com"]},
    )
    response = admin_client_api.patch(
        f"{BI}/delivery-targets/{target.pk}", {"config": ["a", "list"]}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["config"] == ["Expected an object."]
    target.refresh_from_db()
    assert target.config == {"recipients": ["finance@example.com"]}
