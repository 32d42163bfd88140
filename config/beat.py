"""django-celery-beat's DatabaseScheduler, riding out a database outage.

As shipped, it logs a traceback on every tick (5 s) while the database is down, and beat dies
("beat raised exception", exit 1) when the outage meets its full read of the schedule: at start,
and every 5 minutes. This one asks the database first: while it does not answer, beat keeps
sending the schedule it read last (nothing if it started during the outage), writes nothing, and
logs one line; once it answers, one line again, and the whole schedule is read anew.
"""

import datetime
import logging

from django.db import DatabaseError, InterfaceError, close_old_connections, connection
from django_celery_beat import schedulers

logger = logging.getLogger(__name__)

DATABASE_ERRORS = (DatabaseError, InterfaceError)


class DatabaseScheduler(schedulers.DatabaseScheduler):
    database_down = False

    @property
    def schedule(self) -> dict:
        try:
            if self._database_answers():
                return super().schedule
        except DATABASE_ERRORS as exc:  # gone between the question and the read
            self._database_lost(exc)
        return self._schedule or {}

    def sync(self) -> None:
        # The runs it records (last run, count) stay marked and are written once it is back.
        if not self.database_down:
            super().sync()

    def _database_answers(self) -> bool:
        try:
            close_old_connections()  # a connection the outage broke is dropped, then reopened
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        except DATABASE_ERRORS as exc:
            self._database_lost(exc)
            return False
        if self.database_down:
            logger.warning("beat: the database answers again; reading the schedule anew")
            self.database_down = False
            self._last_full_sync = datetime.datetime.min  # the next read is a full one
        return True

    def _database_lost(self, exc: Exception) -> None:
        if not self.database_down:
            reason = next(iter(str(exc).strip().splitlines()), type(exc).__name__)
            logger.warning(
                "beat: the database is unavailable (%s); sending the schedule read last", reason
            )
        self.database_down = True
