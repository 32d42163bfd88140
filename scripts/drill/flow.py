"""The first product description's flow, through the web host's API, checked on every host.

A template of two SQL sources ("Monthly Billing Summary"), run as PDF: rendered on worker-a,
stored in S3, downloaded from the web host. Then an every-minute schedule that delivers by
signed webhook: beat wakes it, worker-a renders, worker-b delivers, the receiver checks the
Standard Webhooks signature and the web host serves the signed link the webhook carries.
"""

import hashlib
import json
import subprocess
import time
from collections.abc import Callable

import psycopg2
import requests
from standardwebhooks import Webhook, WebhookVerificationError

from scripts.drill.cluster import BUCKET, PREFIX, RUN_DIR, WORKER_A, WORKER_B, Cluster
from scripts.drill.hosts import DrillFailure

BI = "/api/v1/business-intelligence"
RUN_TIMEOUT = 120
SCHEDULE_TIMEOUT = 150  # the next minute, a render and a delivery
WEBHOOK_SECRET = "drill-webhook-signing-secret"
# The seed's "Monthly Billing Summary": 25 invoices of the month asked for, and their total.
INVOICES = """
SELECT i AS invoice, 'Customer ' || i AS customer, i * 1250 AS amount_cents,
       %(year)s AS year, %(month)s AS month
FROM generate_series(1, 25) AS i ORDER BY i
"""
TOTALS = """
SELECT %(month)s AS month, %(year)s AS year, count(*) AS invoices, sum(i * 1250) AS total_cents
FROM generate_series(1, 25) AS i
"""
MONTH_SCHEMA = {
    "type": "object",
    "properties": {
        "month": {"type": "string", "format": "month"},
        "year": {"type": "integer", "minimum": 2000},
    },
    "required": ["month", "year"],
}
EXPECTED_TEXT = ("Monthly Billing Summary", "Customer 25", "406250", "Page 1 of")

Say = Callable[[str], None]


class Api:
    """The web host's REST API as an admin of the demo organisation."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.session = requests.Session()

    def login(self, username: str, password: str) -> None:
        body = self.call(
            "post", "/api/v1/auth/token/", {"username": username, "password": password}
        )
        self.session.headers["Authorization"] = f"Bearer {body['access']}"

    def call(self, method: str, path: str, body: dict | None = None, *, expect: int = 200) -> dict:
        url = path if path.startswith("http") else f"{self.base_url}{path}"
        response = self.session.request(method, url, json=body, timeout=30)
        if response.status_code != expect:
            raise DrillFailure(
                f"{method.upper()} {path}: {response.status_code} {response.text[:500]}"
            )
        return response.json()

    def download(self, url: str) -> bytes:
        response = self.session.get(url, timeout=60)
        if response.status_code != 200:
            raise DrillFailure(f"GET {url}: {response.status_code} {response.text[:500]}")
        return response.content


def run(cluster: Cluster, say: Say) -> None:
    api = Api(cluster.web_url)
    api.login("demo", "demo")
    template_id = template_create(api)
    say(f'web: template {template_id} "Monthly Billing Summary" created through the API')
    # Made first, so the wait for its first whole minute overlaps the run on demand.
    schedule_id = schedule_create(cluster, api, template_id, say)
    execution = execution_run(api, template_id)
    output_checked(cluster, api, execution, say)
    schedule_delivery_checked(cluster, api, schedule_id, say)


def template_create(api: Api) -> int:
    sources = []
    for name, query in (("Invoices", INVOICES), ("Totals", TOTALS)):
        source = {"name": name, "source_type": "database", "query": query}
        sources.append(api.call("post", f"{BI}/data-sources", source, expect=201)["id"])
    template = api.call("post", f"{BI}/report-templates", {
        "name": "Monthly Billing Summary",
        "description": "Summary of billing data for the month",
        "report_type": "financial",
        "output_formats": ["pdf"],
        "parameters_schema": MONTH_SCHEMA,
        "data_source_ids": sources,
        "is_public": False,
    }, expect=201)  # fmt: skip
    return template["id"]


def execution_run(api: Api, template_id: int) -> dict:
    body = {
        "template_id": template_id,
        "parameters": {"month": "03", "year": 2025},
        "output_formats": ["pdf"],
    }
    queued = api.call("post", f"{BI}/report-executions", body, expect=202)
    return finished(api, queued["id"], timeout=RUN_TIMEOUT)


def finished(api: Api, execution_id: int, *, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        execution = api.call("get", f"{BI}/report-executions/{execution_id}")
        if execution["status"] in ("succeeded", "failed", "cancelled"):
            if execution["status"] != "succeeded":
                raise DrillFailure(
                    f"execution {execution_id} {execution['status']}: {execution['error']}"
                )
            return execution
        time.sleep(0.5)
    raise DrillFailure(f"execution {execution_id} did not finish within {timeout} s: {execution}")


def output_checked(cluster: Cluster, api: Api, execution: dict, say: Say) -> None:
    """The PDF was rendered on worker-a, lives in S3 and nowhere on a host's disk, and the web
    host serves exactly those bytes."""
    execution_id = execution["id"]
    owner = execution_record(cluster, execution_id)["lease_owner"]
    output = execution["outputs"][0]
    pdf = api.download(output["download_url"])
    page_count = pdf_pages(pdf)
    rendered_on(owner, WORKER_A, execution_id)
    pages = f"{page_count} page{'s' if page_count > 1 else ''}"
    say(f"worker-a rendered execution {execution_id} (PDF, {pages}; lease owner {owner})")
    stored = s3_object(cluster, output["filename"])
    if hashlib.sha256(stored).hexdigest() != output["sha256"]:
        raise DrillFailure(
            f"s3://{BUCKET}/{PREFIX}/…/{output['filename']} is not the output the API lists"
        )
    say(f"S3 holds {output['filename']} ({len(stored):,} bytes) in s3://{BUCKET}/{PREFIX}/")
    on_disk = [path for path in RUN_DIR.glob("*/var/**/*") if path.name == output["filename"]]
    if on_disk:
        raise DrillFailure(f"the output is on a host's own disk: {on_disk}")
    if pdf != stored:
        raise DrillFailure("the web host's download differs from the S3 object")
    say(f"web served the download, {len(pdf):,} bytes, the S3 object's bytes; "
        f"pdftotext shows {', '.join(repr(text) for text in EXPECTED_TEXT)}")  # fmt: skip


def execution_record(cluster: Cluster, execution_id: int) -> dict:
    """What the API does not show: who held the run's lease, why it ran, for which slot."""
    connection = psycopg2.connect(cluster.database_url)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT lease_owner, trigger, slot_at FROM reporting_reportexecution WHERE id = %s",
                [execution_id],
            )
            row = cursor.fetchone()
    finally:
        connection.close()
    return dict(zip(("lease_owner", "trigger", "slot_at"), row, strict=True))


def rendered_on(owner: str, host, execution_id: int) -> None:
    if owner.rpartition(":")[0] != host.name:
        raise DrillFailure(f"execution {execution_id} ran on {owner!r}, not on {host.name}")


def pdf_pages(pdf: bytes) -> int:
    if not pdf.startswith(b"%PDF-"):
        raise DrillFailure(f"the download is not a PDF: {pdf[:60]!r}")
    text = subprocess.run(
        ["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True
    ).stdout.decode()
    missing = [expected for expected in EXPECTED_TEXT if expected not in text]
    if missing:
        raise DrillFailure(f"the PDF's text lacks {missing}:\n{text[:1500]}")
    return len([page for page in text.split("\f") if page.strip()])


def s3_object(cluster: Cluster, filename: str) -> bytes:
    s3 = cluster.s3()
    keys = [
        item["Key"]
        for item in s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{PREFIX}/").get("Contents", [])
        if item["Key"].endswith(f"/{filename}")
    ]
    if len(keys) != 1:
        raise DrillFailure(f"s3://{BUCKET}/{PREFIX}/ holds {len(keys)} objects named {filename}")
    return s3.get_object(Bucket=BUCKET, Key=keys[0])["Body"].read()


def schedule_create(cluster: Cluster, api: Api, template_id: int, say: Say) -> int:
    receiver = cluster.receiver
    target = api.call("post", f"{BI}/delivery-targets", {
        "name": "Drill receiver", "kind": "webhook",
        "config": {"url": receiver.url("/hooks/reports"), "secret": WEBHOOK_SECRET},
    }, expect=201)  # fmt: skip
    schedule = api.call("post", f"{BI}/scheduled-reports", {
        "name": "Billing every minute", "template_id": template_id, "cron": "* * * * *",
        "timezone": "UTC", "catch_up": "skip", "output_formats": ["pdf"],
        "parameters": {"month": "{last_month.month}", "year": "{last_month.year}"},
        "delivery_target_ids": [target["id"]],
    }, expect=201)  # fmt: skip
    say(f"web: schedule {schedule['id']} (every minute, next {schedule['next_run_at']}) "
        f"delivers to webhook {receiver.url('/hooks/reports')}")  # fmt: skip
    return schedule["id"]


def schedule_delivery_checked(cluster: Cluster, api: Api, schedule_id: int, say: Say) -> None:
    """The schedule's first slot: sent by beat, queued by worker-b, rendered by worker-a,
    delivered by worker-b to the receiver with a valid signature, its link served by web."""
    received = webhook_awaited(api, schedule_id, cluster.receiver)
    payload = signature_checked(received)
    execution_id = payload["execution_id"]
    record = execution_record(cluster, execution_id)
    rendered_on(record["lease_owner"], WORKER_A, execution_id)
    if record["trigger"] != "schedule":
        raise DrillFailure(f"execution {execution_id} was triggered by {record['trigger']!r}")
    task = "business_intelligence.run_scheduled_report"
    for name in ("beat", WORKER_B.name):
        if not cluster.processes[name].log_mentions(task):
            raise DrillFailure(f"{name}'s log does not mention {task}")
    say(f"beat sent schedule {schedule_id}'s {record['slot_at']:%H:%M} UTC slot; worker-b "
        f"queued execution {execution_id}; worker-a rendered it (lease owner "
        f"{record['lease_owner']})")  # fmt: skip
    delivery = delivery_sent(api, execution_id)
    if received.peer != WORKER_B.address or not cluster.processes[WORKER_B.name].log_mentions(
        "business_intelligence.deliver_report"
    ):
        raise DrillFailure(
            f"the webhook came from {received.peer}, not worker-b ({WORKER_B.address})"
        )
    say(f"worker-b delivered the webhook (from {received.peer}, answered "
        f"{delivery['response_status']}); signature OK (Standard Webhooks); "
        f"delivery {delivery['id']} is {delivery['status']}")  # fmt: skip
    linked = payload["files"][0]
    served = requests.get(linked["download_url"], timeout=60)
    if served.status_code != 200 or hashlib.sha256(served.content).hexdigest() != linked["sha256"]:
        raise DrillFailure(f"the webhook's link {linked['download_url']}: {served.status_code}")
    if not linked["download_url"].startswith(f"{cluster.web_url}/"):
        raise DrillFailure(f"the webhook's link is not on the web host: {linked['download_url']}")
    say(f"web served the webhook's signed link, {len(served.content):,} bytes, the sha256 it names")
    api.call("patch", f"{BI}/scheduled-reports/{schedule_id}", {"enabled": False})


def webhook_awaited(api: Api, schedule_id: int, receiver):
    deadline = time.monotonic() + SCHEDULE_TIMEOUT
    while time.monotonic() < deadline:
        if receiver.requests:
            return receiver.requests[0]
        executions = api.call("get", f"{BI}/scheduled-reports/{schedule_id}/executions")
        for execution in executions.get("results", executions):
            if execution["status"] in ("failed", "cancelled"):
                raise DrillFailure(
                    f"the schedule's execution {execution['id']} {execution['status']}: "
                    f"{execution['error']}"
                )
        time.sleep(1)
    raise DrillFailure(f"no webhook within {SCHEDULE_TIMEOUT} s")


def signature_checked(received) -> dict:
    """As the README tells a receiver to: the standardwebhooks library on the raw body."""
    try:
        return Webhook(WEBHOOK_SECRET.encode()).verify(received.body, received.headers)
    except WebhookVerificationError as error:
        raise DrillFailure(
            f"the webhook's signature does not verify: {error}; headers {received.headers}"
        ) from error


def delivery_sent(api: Api, execution_id: int) -> dict:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        deliveries = api.call("get", f"{BI}/deliveries?execution={execution_id}")["results"]
        if deliveries and deliveries[0]["status"] == "sent":
            return deliveries[0]
        time.sleep(0.5)
    raise DrillFailure(
        f"execution {execution_id}'s delivery is not sent: {json.dumps(deliveries)[:800]}"
    )
