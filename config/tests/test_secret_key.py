"""`make run`'s own SECRET_KEY, and start-up's refusal of a public or short one."""

import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import jwt
import pytest

BASE_DIR = Path(__file__).resolve().parents[2]
DEVELOPMENT_KEY = "development-only-secret-key-do-not-use-in-production"
SETTINGS_VARIABLES = ("SECRET_KEY", "SECRET_KEY_FILE", "DEBUG", "HOST", "VAR_DIR")
TOKEN_CHECK = """
import django, sys
django.setup()
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken
for token in sys.argv[1:]:
    try:
        AccessToken(token)
        print("accepted")
    except TokenError:
        print("rejected")
"""


def python(tmp_path, *arguments: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in SETTINGS_VARIABLES}
    clean.update(VAR_DIR=str(tmp_path / "var"), DJANGO_SETTINGS_MODULE="config.settings")
    return subprocess.run(
        [sys.executable, *arguments],
        cwd=BASE_DIR,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def settings_start(tmp_path, **env: str) -> subprocess.CompletedProcess:
    return python(tmp_path, "-c", "import config.settings", **env)


def make_secret_key(key_file: Path) -> None:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    subprocess.run(
        ["make", "--no-print-directory", f"SECRET_KEY_FILE={key_file}", str(key_file)],
        cwd=BASE_DIR,
        check=True,
        capture_output=True,
        timeout=60,
    )


def access_token(key: str) -> str:
    now = int(time.time())
    claims = {"token_type": "access", "exp": now + 600, "iat": now, "jti": "f" * 32}
    return jwt.encode({**claims, "user_id": "1"}, key, algorithm="HS256")


def test_make_writes_a_random_key_once_and_keeps_it(tmp_path):
    key_file = tmp_path / "var" / "secret_key"
    make_secret_key(key_file)
    key = key_file.read_text().strip()
    make_secret_key(key_file)
    assert key_file.read_text().strip() == key
    assert len(key) >= 50
    assert key != DEVELOPMENT_KEY
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    other = tmp_path / "elsewhere" / "secret_key"
    make_secret_key(other)
    assert other.read_text().strip() != key


def test_a_token_forged_with_the_development_key_is_rejected_under_make_runs_key(tmp_path):
    key_file = tmp_path / "var" / "secret_key"
    make_secret_key(key_file)
    key = key_file.read_text().strip()
    result = python(
        tmp_path,
        "-c",
        TOKEN_CHECK,
        access_token(DEVELOPMENT_KEY),
        access_token(key),
        SECRET_KEY_FILE=str(key_file),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["rejected", "accepted"]


def test_secret_key_in_the_environment_wins_over_the_file(tmp_path):
    key_file = tmp_path / "secret_key"
    key_file.write_text("k" * 10 + "from-the-file-" + "0123456789" * 4)
    script = "import config.settings as s; print(s.SECRET_KEY)"
    from_file = python(tmp_path, "-c", script, SECRET_KEY_FILE=str(key_file))
    assert from_file.stdout.strip() == key_file.read_text()
    given = "given-" + "abcdefghij" * 5
    both = python(tmp_path, "-c", script, SECRET_KEY_FILE=str(key_file), SECRET_KEY=given)
    assert both.stdout.strip() == given


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"DEBUG": "false"},
            "Configuration error: SECRET_KEY is the public development key; while DEBUG is off "
            "it must be a random value of at least 50 characters (make run writes one to "
            "var/secret_key).",
        ),
        (
            {"HOST": "0.0.0.0"},
            "Configuration error: SECRET_KEY is the public development key; while HOST=0.0.0.0 "
            "is reachable beyond this machine it must be a random value of at least 50 "
            "characters (make run writes one to var/secret_key).",
        ),
        (
            {"DEBUG": "0", "SECRET_KEY": "short-but-secret-123"},
            "Configuration error: SECRET_KEY is too short or too simple (20 characters); while "
            "DEBUG is off it must be a random value of at least 50 characters (make run writes "
            "one to var/secret_key).",
        ),
    ],
)
def test_start_up_refuses_a_known_or_short_key_outside_development(tmp_path, env, message):
    result = settings_start(tmp_path, **env)
    assert result.returncode == 1
    assert result.stderr.strip() == message
    assert "short-but-secret-123" not in result.stderr


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "[::1]"])
def test_development_on_loopback_may_use_the_development_key(tmp_path, host):
    result = settings_start(tmp_path, HOST=host)
    assert result.returncode == 0, result.stderr


def test_production_starts_with_a_long_random_key(tmp_path):
    result = settings_start(tmp_path, DEBUG="0", HOST="0.0.0.0", SECRET_KEY="x1y2z3-" * 10)
    assert result.returncode == 0, result.stderr


def test_an_unreadable_secret_key_file_stops_start_up_naming_it(tmp_path):
    result = settings_start(tmp_path, SECRET_KEY_FILE=str(tmp_path / "missing"))
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"Configuration error: SECRET_KEY_FILE names {str(tmp_path / 'missing')!r}, which cannot "
        "be read (No such file or directory)."
    )
