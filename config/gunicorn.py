"""gunicorn's settings file (Procfile: gunicorn -c config/gunicorn.py): the web processes share
their metrics through prometheus-client's multiprocess mode (config/metrics/process.py).

PROMETHEUS_MULTIPROC_DIR names the folder for this host's web processes; unset, a temporary
folder is made here, in the master, so every worker forked from it inherits the variable. The
folder is emptied before the first worker starts, as prometheus-client requires.
"""

import os
import shutil
import tempfile
from pathlib import Path

from gunicorn.glogging import Logger

from config.env import env_choice, read_dotenv
from config.logs import LOG_FORMATS, JsonFormatter

_made_here = False


def on_starting(server) -> None:
    global _made_here
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "").strip()
    if folder:
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
    else:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="reporting-hub-metrics-")
        _made_here = True


def on_exit(server) -> None:
    if _made_here:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)


class JsonCapableLogger(Logger):
    """gunicorn's own logs (errors, the access log) as JSON lines too when LOG_FORMAT=json."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        read_dotenv(Path(__file__).resolve().parent.parent / ".env")
        if env_choice("LOG_FORMAT", "text", choices=LOG_FORMATS) == "json":
            for log in (self.error_log, self.access_log):
                for handler in log.handlers:
                    handler.setFormatter(JsonFormatter())


logger_class = JsonCapableLogger
