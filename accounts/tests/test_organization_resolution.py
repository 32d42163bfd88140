import pytest
from rest_framework.test import APIClient

from accounts.models import Role
from accounts.tests.factories import MembershipFactory, OrganizationFactory, UserFactory

ME = "/api/v1/me/"


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def two_org_member(organization, other_organization):
    user = UserFactory()
    MembershipFactory(user=user, organization=organization, role=Role.ANALYST)
    MembershipFactory(user=user, organization=other_organization, role=Role.VIEWER)
    return user


def test_a_single_membership_is_used_without_naming_it(viewer, organization):
    response = client_for(viewer).get(ME)
    assert response.status_code == 200
    assert response.json()["organization"]["slug"] == "acme"
    assert response.json()["role"] == "viewer"


def test_several_memberships_and_none_named_is_400_listing_the_choices(two_org_member):
    response = client_for(two_org_member).get(ME)
    assert response.status_code == 400
    choices = response.json()["organization"]["choices"]
    assert sorted(choice["slug"] for choice in choices) == ["acme", "northwind"]
    assert "X-Organization" in response.json()["detail"]


def test_the_header_names_the_organisation_by_slug(two_org_member):
    response = client_for(two_org_member).get(ME, HTTP_X_ORGANIZATION="northwind")
    assert response.status_code == 200
    assert response.json()["organization"]["slug"] == "northwind"
    assert response.json()["role"] == "viewer"


def test_the_header_names_the_organisation_by_id(two_org_member, organization):
    response = client_for(two_org_member).get(ME, HTTP_X_ORGANIZATION=str(organization.pk))
    assert response.status_code == 200
    assert response.json()["organization"]["id"] == str(organization.pk)
    assert response.json()["role"] == "analyst"


def test_the_query_parameter_names_the_organisation(two_org_member):
    response = client_for(two_org_member).get(ME, {"org": "acme"})
    assert response.status_code == 200
    assert response.json()["organization"]["slug"] == "acme"


@pytest.mark.parametrize("reference", ["northwind", "no-such-org"])
def test_naming_an_organisation_without_membership_is_403(viewer, other_organization, reference):
    response = client_for(viewer).get(ME, HTTP_X_ORGANIZATION=reference)
    assert response.status_code == 403
    assert reference in response.json()["detail"]


def test_no_membership_at_all_is_403(db):
    response = client_for(UserFactory()).get(ME)
    assert response.status_code == 403


def test_a_superuser_acts_as_super_admin_in_any_organisation(organization, other_organization):
    superuser = UserFactory(is_superuser=True, is_staff=True)
    response = client_for(superuser).get(ME, HTTP_X_ORGANIZATION="northwind")
    assert response.status_code == 200
    assert response.json()["role"] == "super_admin"


def test_a_super_admin_member_acts_in_every_organisation(super_admin, other_organization):
    response = client_for(super_admin).get(ME, HTTP_X_ORGANIZATION="northwind")
    assert response.status_code == 200
    assert response.json()["role"] == "super_admin"


def test_the_organisation_list_offers_only_the_callers_choices(two_org_member):
    OrganizationFactory(slug="elsewhere")
    response = client_for(two_org_member).get("/api/v1/organizations/")
    assert response.status_code == 200
    assert sorted(o["slug"] for o in response.json()["results"]) == ["acme", "northwind"]
