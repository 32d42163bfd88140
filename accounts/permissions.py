"""DRF permissions by role in the request's organisation; every tenant viewset uses one."""

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from accounts.models import Role
from accounts.selectors import OrganizationContext, organization_context_for_user

ORGANIZATION_HEADER = "X-Organization"
ORGANIZATION_QUERY_PARAMETER = "org"


def request_organization_context(request: Request) -> OrganizationContext:
    """Resolve once per request; views then read `request.organization` and `request.role`."""
    context = getattr(request, "organization_context", None)
    if context is None:
        requested = request.headers.get(ORGANIZATION_HEADER) or request.query_params.get(
            ORGANIZATION_QUERY_PARAMETER
        )
        context = organization_context_for_user(user=request.user, requested=requested)
        request.organization_context = context
        request.organization = context.organization
        request.role = context.role
    return context


class HasOrganizationRole(BasePermission):
    minimum_role = Role.VIEWER

    def has_permission(self, request: Request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        context = request_organization_context(request)
        if context.role.includes(self.minimum_role):
            return True
        needed, actual = self.minimum_role.label.lower(), context.role.label.lower()
        self.message = (
            f"This needs the {needed} role in {context.organization.name}; you are {actual}."
        )
        return False


class IsOrgViewer(HasOrganizationRole):
    minimum_role = Role.VIEWER


class IsOrgAnalyst(HasOrganizationRole):
    minimum_role = Role.ANALYST


class IsOrgAdmin(HasOrganizationRole):
    minimum_role = Role.ADMIN


class IsOrgSuperAdmin(HasOrganizationRole):
    minimum_role = Role.SUPER_ADMIN
