import pytest
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory, force_authenticate
from rest_framework.views import APIView

from accounts.models import Role
from accounts.permissions import IsOrgAdmin, IsOrgAnalyst, IsOrgSuperAdmin, IsOrgViewer
from accounts.tests.factories import MembershipFactory

ALLOWED = {
    IsOrgViewer: {Role.VIEWER, Role.ANALYST, Role.ADMIN, Role.SUPER_ADMIN},
    IsOrgAnalyst: {Role.ANALYST, Role.ADMIN, Role.SUPER_ADMIN},
    IsOrgAdmin: {Role.ADMIN, Role.SUPER_ADMIN},
    IsOrgSuperAdmin: {Role.SUPER_ADMIN},
}


def view_guarded_by(permission):
    class GuardedView(APIView):
        permission_classes = [permission]

        def get(self, request):
            return Response({"organization": request.organization.slug, "role": request.role})

    return GuardedView.as_view()


@pytest.mark.parametrize("permission", list(ALLOWED))
@pytest.mark.parametrize("role", list(Role))
def test_each_role_passes_exactly_the_permissions_of_its_rank(organization, permission, role):
    user = MembershipFactory(organization=organization, role=role).user
    request = APIRequestFactory().get("/")
    force_authenticate(request, user=user)
    response = view_guarded_by(permission)(request)
    if role in ALLOWED[permission]:
        assert response.status_code == 200
        assert response.data == {"organization": "acme", "role": role}
    else:
        assert response.status_code == 403
        assert f"you are {role.label.lower()}" in str(response.data["detail"])


@pytest.mark.django_db
def test_anonymous_callers_are_refused():
    response = view_guarded_by(IsOrgViewer)(APIRequestFactory().get("/"))
    assert response.status_code in (401, 403)
