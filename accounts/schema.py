from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter

from accounts.permissions import ORGANIZATION_HEADER, HasOrganizationRole

ORGANIZATION_PARAMETER = OpenApiParameter(
    ORGANIZATION_HEADER,
    location=OpenApiParameter.HEADER,
    required=False,
    description="Slug or id of the organisation to act in; needed when you belong to several.",
)


class OrganizationAutoSchema(AutoSchema):
    """Documents the X-Organization header on every operation scoped to an organisation."""

    def get_override_parameters(self):
        parameters = super().get_override_parameters()
        if any(isinstance(p, HasOrganizationRole) for p in self.view.get_permissions()):
            parameters = [*parameters, ORGANIZATION_PARAMETER]
        return parameters
