import os

from django.core.management import call_command
from django.core.management.base import BaseCommand

from accounts.services import demo_setup


class Command(BaseCommand):
    help = (
        "On an empty database: create the demo organisation and staff user and load sample data. "
        "On a database that has users: change nothing. Prints the login and the admin URL."
    )

    def handle(self, *args, **options):
        login = demo_setup()
        if login.created:
            call_command("load_sample_data", org="demo", stdout=self.stdout, stderr=self.stderr)
        base_url = f"http://{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
        self.stdout.write(
            self.style.SUCCESS(
                f"\nReporting Hub at {base_url}/\n"
                f"  admin:   {base_url}/admin/\n"
                f"  API:     {base_url}/api/v1/   (docs: {base_url}/api/docs/)\n"
                f"  health:  {base_url}/healthz\n"
                f"  login:   {login.username} / {login.password}"
                + ("" if login.created else "   (created on the first run)")
                + "\n"
            )
        )
