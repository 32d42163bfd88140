"""Rate limits on the API and the token views, and the lockout of a username."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import LoginLockout
from accounts.tests.factories import UserFactory

LOCKED = (
    "This username is locked after too many wrong passwords: no password is accepted for it "
    "until an administrator unlocks it."
)


@pytest.fixture
def api():
    return APIClient()


def obtain(api, username, password, address="10.0.0.1"):
    return api.post(
        "/api/v1/auth/token/",
        {"username": username, "password": password},
        format="json",
        REMOTE_ADDR=address,
    )


@pytest.fixture
def rates(settings):
    def set_rates(**rates):
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {
                **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
                **rates,
            },
        }

    return set_rates


def test_the_eleventh_wrong_password_in_a_minute_is_429_with_retry_after(api, viewer):
    with time_machine.travel(timezone.now().replace(second=0), tick=False):
        answers = [obtain(api, viewer.username, "wrong").status_code for _ in range(11)]
        eleventh = obtain(api, viewer.username, "wrong")
    assert answers[:10] == [401] * 10
    assert answers[10] == 429
    assert eleventh.status_code == 429
    assert eleventh["Retry-After"] == "60"
    assert eleventh.json()["detail"].startswith("Request was throttled.")


def test_a_locked_username_stays_locked_with_the_right_password(api, viewer):
    for _ in range(10):
        assert obtain(api, viewer.username, "wrong").status_code == 401
    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        right = obtain(api, viewer.username, "secret-password")
    assert right.status_code == 403
    assert right.json() == {"detail": LOCKED}
    assert "access" not in right.json()


def test_a_superuser_unlocks_the_username_in_the_admin(api, client, viewer):
    for _ in range(10):
        obtain(api, viewer.username, "wrong")
    lockout = LoginLockout.objects.get(username=viewer.username)
    assert lockout.locked_at is not None
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    response = client.post(
        "/admin/accounts/loginlockout/",
        {"action": "unlock", "_selected_action": [lockout.pk]},
        follow=True,
    )
    assert "Unlocked 1 username(s)." in response.content.decode()
    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        assert obtain(api, viewer.username, "secret-password").status_code == 200


def test_staff_who_are_not_superusers_cannot_see_lockouts(client, viewer):
    client.force_login(UserFactory(is_staff=True))
    assert client.get("/admin/accounts/loginlockout/").status_code == 403


def test_failures_spread_beyond_the_window_do_not_lock(api, viewer):
    start = timezone.now()
    for minute in range(0, 20, 2):  # ten failures, two minutes apart: never ten in fifteen
        with time_machine.travel(start + timedelta(minutes=minute)):
            assert obtain(api, viewer.username, "wrong").status_code == 401
    with time_machine.travel(start + timedelta(minutes=21)):
        assert obtain(api, viewer.username, "secret-password").status_code == 200


def test_the_right_password_forgets_earlier_failures(api, viewer):
    for _ in range(5):
        obtain(api, viewer.username, "wrong")
    assert obtain(api, viewer.username, "secret-password").status_code == 200
    assert not LoginLockout.objects.filter(username=viewer.username).exists()


def test_an_unknown_username_locks_like_a_real_one(api, db):
    for _ in range(10):
        assert obtain(api, "nobody", "wrong").status_code == 401
    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        assert obtain(api, "nobody", "wrong").json() == {"detail": LOCKED}


def test_the_admin_login_counts_towards_the_lock_and_refuses_a_locked_username(client, viewer):
    viewer.is_staff = True
    viewer.save()
    for _ in range(10):
        client.post("/admin/login/", {"username": viewer.username, "password": "wrong"})
    assert LoginLockout.objects.get(username=viewer.username).locked_at is not None
    response = client.post(
        "/admin/login/", {"username": viewer.username, "password": "secret-password"}
    )
    assert response.status_code == 200  # the login form again, not a redirect into the admin
    assert "_auth_user_id" not in client.session


def test_token_attempts_are_limited_per_username_from_many_addresses(api, viewer):
    with time_machine.travel(timezone.now().replace(second=0), tick=False):
        codes = [
            obtain(api, viewer.username, "wrong", address=f"10.0.1.{n}").status_code
            for n in range(11)
        ]
    assert codes[-1] == 429


def test_token_attempts_are_limited_per_address_over_many_usernames(api, db):
    with time_machine.travel(timezone.now().replace(second=0), tick=False):
        codes = [obtain(api, f"guess{n}", "wrong").status_code for n in range(11)]
    assert codes == [401] * 10 + [429]


def test_clients_behind_a_trusted_proxy_are_counted_apart(api, db, settings):
    import ipaddress

    settings.TRUSTED_PROXIES = [ipaddress.ip_network("10.0.0.5/32")]

    def attempt(n, client):
        return api.post(
            "/api/v1/auth/token/",
            {"username": f"guess{n}", "password": "wrong"},
            format="json",
            REMOTE_ADDR="10.0.0.5",
            HTTP_X_FORWARDED_FOR=client,
        ).status_code

    with time_machine.travel(timezone.now().replace(second=0), tick=False):
        first = [attempt(n, "203.0.113.7") for n in range(11)]
        other = attempt(99, "203.0.113.8")
    assert first == [401] * 10 + [429]
    assert other == 401  # another client behind the same proxy is not throttled with the first


def test_a_forwarded_for_header_does_not_make_a_new_address(api, db):
    with time_machine.travel(timezone.now().replace(second=0), tick=False):
        codes = [
            api.post(
                "/api/v1/auth/token/",
                {"username": f"guess{n}", "password": "wrong"},
                format="json",
                HTTP_X_FORWARDED_FOR=f"192.0.2.{n}",
            ).status_code
            for n in range(11)
        ]
    assert codes[-1] == 429


def test_api_requests_over_the_rate_get_a_json_429(rates, viewer_client):
    rates(api="3/min")
    with time_machine.travel(timezone.now().replace(second=30), tick=False):
        codes = [viewer_client.get("/api/v1/me/").status_code for _ in range(4)]
        response = viewer_client.get("/api/v1/me/")
    assert codes == [200, 200, 200, 429]
    assert response["Retry-After"] == "30"
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Request was throttled. Expected available in 30 seconds."}


def test_the_api_rate_counts_per_user(rates, viewer_client, analyst_client):
    rates(api="2/min")
    with time_machine.travel(timezone.now().replace(second=0), tick=False):
        assert [viewer_client.get("/api/v1/me/").status_code for _ in range(3)][-1] == 429
        assert analyst_client.get("/api/v1/me/").status_code == 200


def test_ingestion_has_its_own_rate(rates, viewer_client):
    rates(api="2/min", ingest="4/min")
    event = {"event_type": "login", "event_category": "authentication", "user_id": "m1"}
    with time_machine.travel(timezone.now().replace(second=0), tick=False):
        posts = [
            viewer_client.post("/api/v1/analytics/events", event, format="json").status_code
            for _ in range(5)
        ]
    assert posts == [201, 201, 201, 201, 429]


def test_the_default_rates_let_the_ingestion_benchmark_through(settings):
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    assert rates == {"auth": "10/min", "ingest": "6000/min", "api": "1200/min"}
    # bench/ingest.py: 20,000 events/s in batches of 1,000 is 1,200 batches a minute.
    assert int(rates["ingest"].split("/")[0]) >= 4 * 1200
