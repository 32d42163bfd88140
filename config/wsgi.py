import gc
import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_wsgi_application()

# Every view module loads now rather than on the first request, and then what start-up made is
# frozen out of the garbage collector's sight: otherwise each full collection walks Django's
# long-lived objects again (about 140 ms in a web process, every 30 or so ingestion batches).
get_resolver().url_patterns  # noqa: B018
gc.freeze()
