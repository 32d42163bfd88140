"""The Celery queues and how many messages wait in each, for any kombu transport."""

from celery import Celery

BROKER_TIMEOUT_SECONDS = 3


def queue_names(app: Celery) -> list[str]:
    """The default queue, the declared ones and every queue a task route names: read from the
    app's configuration, so routing tasks to more queues needs no change here."""
    conf = app.conf
    names = {conf.task_default_queue}
    names.update(getattr(queue, "name", queue) for queue in conf.task_queues or ())
    routes = conf.task_routes or ()
    for table in [routes] if isinstance(routes, dict) else routes:
        if not isinstance(table, dict):
            continue  # a router function: its queues cannot be read without calling it
        for route in table.values():
            queue = route.get("queue") if isinstance(route, dict) else None
            if queue:
                names.add(getattr(queue, "name", queue))
    return sorted(names)


def queue_depths(app: Celery) -> dict[str, int]:
    """A passive declare answers the message count on every transport (RabbitMQ's own count,
    LLEN on Redis, a count of files on the filesystem broker) and creates nothing. A queue that
    does not exist yet holds nothing: Redis, for one, deletes a list once it is empty."""
    depths = {}
    with app.connection_for_read() as connection:
        connection.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_SECONDS)
        for name in queue_names(app):
            channel = connection.channel()
            try:
                depths[name] = channel.queue_declare(queue=name, passive=True).message_count
            except connection.channel_errors:
                depths[name] = 0
            finally:
                channel.close()
    return depths
