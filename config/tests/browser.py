"""Browser tests: Playwright driving Debian's Chromium against pytest-django's live server.

The browser is the system package (`apt-get install chromium`, which
`scripts/system-packages.sh test` installs), never one `playwright install` downloads.
Screenshots go to var/screenshots/ (VAR_DIR), which git ignores.
"""

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from django.conf import settings

CHROMIUM = "/usr/bin/chromium"
# A desktop at the smallest width staff use (issue 13 measures the admin at 1366 px).
VIEWPORT = {"width": 1366, "height": 768}
# Long enough for a cold first request to the live server, short enough that a missing element
# fails a test in seconds rather than after Playwright's 30 s default.
TIMEOUT_MS = 10_000
FAVICON = "/favicon.ico"


def browser_unavailable() -> str | None:
    """Why browser tests cannot run here, or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed: .venv/bin/pip install -r requirements-dev.txt"
    if not shutil.which(CHROMIUM):
        return f"Chromium is not installed at {CHROMIUM}: run scripts/system-packages.sh test"
    return None


def _chromium_args() -> list[str]:
    # Docker's 64 MB /dev/shm crashes Chromium's renderers; /tmp has room.
    args = ["--disable-dev-shm-usage"]
    if os.geteuid() == 0:
        args.append("--no-sandbox")  # Chromium refuses to start its sandbox as root
    return args


@dataclass
class BrowserSession:
    """One headless Chromium with one page on `base_url`, opened and closed per test.

    `problems` collects what the page reported as wrong (console errors, which include
    resources that failed to load, and uncaught exceptions), so a test can assert there were none.
    """

    base_url: str
    name: str
    problems: list[str] = field(default_factory=list)

    def __enter__(self) -> "BrowserSession":
        from playwright.sync_api import sync_playwright

        self._playwright_manager = sync_playwright()
        playwright = self._playwright_manager.__enter__()
        self.browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=_chromium_args()
        )
        context = self.browser.new_context(base_url=self.base_url, viewport=VIEWPORT)
        context.set_default_timeout(TIMEOUT_MS)
        self.page = context.new_page()
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda error: self.problems.append(f"uncaught: {error}"))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.browser.close()
        self._playwright_manager.__exit__(exc_type, exc, traceback)

    def _on_console(self, message) -> None:
        # Chromium asks for /favicon.ico by itself when a page names no icon: not the page's fault.
        if message.type == "error" and not message.location.get("url", "").endswith(FAVICON):
            self.problems.append(f"console: {message.text} at {message.location.get('url')}")

    def screenshot(self, suffix: str = "") -> Path:
        """The whole page as var/screenshots/<test name>[-<suffix>].png."""
        stem = re.sub(r"[^\w.-]+", "-", self.name + (f"-{suffix}" if suffix else ""))
        path = Path(settings.VAR_DIR) / "screenshots" / f"{stem}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=path, full_page=True)
        return path

    def admin_login(self, *, username: str, password: str) -> None:
        """Sign in through the admin's login form, as a person would."""
        self.page.goto("/admin/login/?next=/admin/")
        self.page.fill("#id_username", username)
        self.page.fill("#id_password", password)
        self.page.click("input[type=submit]")
        self.page.wait_for_load_state()
