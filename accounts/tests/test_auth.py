import io

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from accounts.tests.factories import UserFactory


@pytest.fixture
def api():
    return APIClient()


def obtain(api, username, password):
    return api.post(
        "/api/v1/auth/token/", {"username": username, "password": password}, format="json"
    )


def test_jwt_obtain_then_call_a_protected_endpoint(api, viewer):
    tokens = obtain(api, viewer.username, "secret-password")
    assert tokens.status_code == 200
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens.json()['access']}")
    response = api.get("/api/v1/me/")
    assert response.status_code == 200
    assert response.json()["user"]["username"] == viewer.username


def test_protected_endpoint_without_a_token_is_401(api, viewer):
    assert api.get("/api/v1/me/").status_code == 401


def test_a_forged_token_is_401(api, viewer):
    api.credentials(HTTP_AUTHORIZATION="Bearer not.a.token")
    assert api.get("/api/v1/me/").status_code == 401


def test_a_wrong_password_gets_no_token(api, viewer):
    assert obtain(api, viewer.username, "wrong").status_code == 401


def test_refresh_gives_a_working_access_token(api, viewer):
    refresh = obtain(api, viewer.username, "secret-password").json()["refresh"]
    response = api.post("/api/v1/auth/token/refresh/", {"refresh": refresh}, format="json")
    assert response.status_code == 200
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['access']}")
    assert api.get("/api/v1/me/").status_code == 200


def refresh_with(api, refresh):
    return api.post("/api/v1/auth/token/refresh/", {"refresh": refresh}, format="json")


def test_refresh_rotates_and_a_used_refresh_token_is_401(api, viewer):
    refresh = obtain(api, viewer.username, "secret-password").json()["refresh"]
    rotated = refresh_with(api, refresh)
    assert rotated.status_code == 200
    assert rotated.json()["refresh"] != refresh
    reused = refresh_with(api, refresh)
    assert reused.status_code == 401
    assert reused.json()["code"] == "token_not_valid"
    assert refresh_with(api, rotated.json()["refresh"]).status_code == 200


def test_logout_ends_the_refresh_token(api, viewer):
    refresh = obtain(api, viewer.username, "secret-password").json()["refresh"]
    response = api.post("/api/v1/auth/logout/", {"refresh": refresh}, format="json")
    assert response.status_code == 204
    assert refresh_with(api, refresh).status_code == 401
    again = api.post("/api/v1/auth/logout/", {"refresh": refresh}, format="json")
    assert again.status_code == 401


def test_logout_with_no_token_is_400(api, db):
    response = api.post("/api/v1/auth/logout/", {}, format="json")
    assert response.status_code == 400
    assert response.json() == {"refresh": ["This field is required."]}


def test_a_password_changed_in_the_admin_ends_refresh_and_access_tokens(api, client, viewer):
    tokens = [obtain(api, viewer.username, "secret-password").json() for _ in range(2)]
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    response = client.post(
        f"/admin/auth/user/{viewer.pk}/password/",
        {"password1": "A-new-long-passphrase-9", "password2": "A-new-long-passphrase-9"},
    )
    assert response.status_code == 302
    for pair in tokens:
        assert refresh_with(api, pair["refresh"]).status_code == 401
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {pair['access']}")
        assert api.get("/api/v1/me/").status_code == 401
    api.credentials()
    assert obtain(api, viewer.username, "A-new-long-passphrase-9").status_code == 200


def test_a_password_set_by_changepassword_ends_refresh_tokens(api, viewer, monkeypatch):
    refresh = obtain(api, viewer.username, "secret-password").json()["refresh"]
    monkeypatch.setattr("getpass.getpass", lambda prompt="": "Another-long-passphrase-7")
    call_command("changepassword", viewer.username, stdout=io.StringIO())
    assert refresh_with(api, refresh).status_code == 401


def test_a_refresh_token_of_a_deleted_user_is_401(api, viewer):
    refresh = obtain(api, viewer.username, "secret-password").json()["refresh"]
    viewer.delete()
    assert refresh_with(api, refresh).status_code == 401


def test_the_openapi_schema_documents_logout(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    logout = schema["paths"]["/api/v1/auth/logout/"]["post"]
    body = logout["requestBody"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
    assert schema["components"]["schemas"][body]["required"] == ["refresh"]
    assert logout["responses"]["204"]["description"] == "The refresh token is ended."
