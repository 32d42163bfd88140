"""django-celery-beat's DatabaseScheduler, riding out an outage of the database or the broker.

As shipped, it logs a traceback on every tick (5 s) while the database is down, and beat dies
("beat raised exception", exit 1) when the outage meets its full read of the schedule: at start,
and every 5 minutes. This one asks the database first: while it does not answer, beat keeps
sending the schedule it read last (nothing if it started during the outage) and writes nothing;
once it answers, the whole schedule is read anew. A run that falls due while the broker is down
is skipped, as before, but without a traceback each: the every-minute check catches up report
slots. Each outage is one line when it starts and one when it ends.
"""

import datetime
import logging

from celery.beat import SchedulingError
from django.db import DatabaseError, InterfaceError, close_old_connections, connection
from django_celery_beat import schedulers

from config.outages import outage_service

logger = logging.getLogger(__name__)

DATABASE_ERRORS = (DatabaseError, InterfaceError)
WHILE_DOWN = {"database": "sending the schedule read last", "broker": "skipping due runs"}


class DatabaseScheduler(schedulers.DatabaseScheduler):
    def __init__(self, *args, **kwargs):
        self.unavailable: set[str] = set()  # before the first read, which __init__ makes
        super().__init__(*args, **kwargs)

    @property
    def schedule(self) -> dict:
        try:
            if self._database_answers():
                return super().schedule
        except DATABASE_ERRORS as exc:  # gone between the question and the read
            self._lost("database", exc)
        return self._schedule or {}

    def sync(self) -> None:
        # The runs it records (last run, count) stay marked and are written once it is back.
        if "database" not in self.unavailable:
            super().sync()

    def apply_async(self, entry, producer=None, advance=True, **kwargs):
        try:
            result = super().apply_async(entry, producer, advance, **kwargs)
        except SchedulingError as exc:  # raised while handling the publish error
            if outage_service(exc.__context__) != "broker":
                raise
            self._lost("broker", exc.__context__)
            return None
        self._back("broker")
        return result

    def _database_answers(self) -> bool:
        try:
            close_old_connections()  # a connection the outage broke is dropped, then reopened
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        except DATABASE_ERRORS as exc:
            self._lost("database", exc)
            return False
        if self._back("database"):
            self._last_full_sync = datetime.datetime.min  # the next read is a full one
        return True

    def _lost(self, service: str, exc: BaseException) -> None:
        if service not in self.unavailable:
            reason = next(iter(str(exc).strip().splitlines()), type(exc).__name__)
            logger.warning(
                "beat: the %s is unavailable (%s); %s", service, reason, WHILE_DOWN[service]
            )
        self.unavailable.add(service)

    def _back(self, service: str) -> bool:
        if service not in self.unavailable:
            return False
        self.unavailable.discard(service)
        logger.warning("beat: the %s answers again", service)
        return True
