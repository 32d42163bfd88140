import pytest
from django.test import override_settings

DEAD_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1


@pytest.mark.django_db(databases="__all__")
def test_healthz_is_200_when_database_cache_and_broker_answer(client):
    response = client.get("/healthz")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "ok"
    assert body["failing"] == []
    assert set(body["services"]) == {"database", "cache", "broker", "storage"}


@pytest.mark.django_db(databases="__all__")
def test_healthz_is_503_naming_the_cache_when_it_is_down(client):
    dead_cache = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": DEAD_REDIS,
        }
    }
    with override_settings(CACHES=dead_cache):
        response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["cache"]
    assert body["services"]["cache"]["status"] == "error"
    assert "Connection" in body["services"]["cache"]["error"]
    assert body["services"]["database"]["status"] == "ok"


@pytest.mark.django_db(databases="__all__")
def test_healthz_is_503_naming_the_broker_when_it_is_down(client):
    with override_settings(CELERY_BROKER_URL=DEAD_REDIS):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["broker"]
