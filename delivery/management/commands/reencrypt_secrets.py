from django.core.management.base import BaseCommand

from delivery.services import targets_reencrypt


class Command(BaseCommand):
    help = (
        "Encrypt every stored secret again with the first of FIELD_ENCRYPTION_KEYS: run after "
        "putting a new key first, before dropping the old one."
    )

    def handle(self, *args, **options):
        count = targets_reencrypt()
        self.stdout.write(f"Re-encrypted the secrets of {count} delivery targets.")
