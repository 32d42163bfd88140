import pytest
from rest_framework.test import APIClient


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
