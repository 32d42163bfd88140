"""Secrets leave `config` for `secrets`, encrypted with FIELD_ENCRYPTION_KEYS (and come back
in the clear when reversed)."""

from django.db import migrations, models

from config.encryption import secrets_decrypt, secrets_encrypt

# The channels' secret fields when this migration was written.
SECRET_FIELDS = {"webhook": ("secret",), "storage": ("access_key_id", "secret_access_key")}


def seal(apps, schema_editor):
    DeliveryTarget = apps.get_model("delivery", "DeliveryTarget")
    for target in DeliveryTarget.objects.filter(kind__in=SECRET_FIELDS):
        fields = SECRET_FIELDS[target.kind]
        secrets = {key: value for key, value in target.config.items() if key in fields}
        if secrets:
            config = {key: value for key, value in target.config.items() if key not in fields}
            secrets = {**secrets_decrypt(target.secrets), **secrets}
            DeliveryTarget.objects.filter(pk=target.pk).update(
                config=config, secrets=secrets_encrypt(secrets)
            )


def unseal(apps, schema_editor):
    DeliveryTarget = apps.get_model("delivery", "DeliveryTarget")
    for target in DeliveryTarget.objects.exclude(secrets=""):
        config = {**target.config, **secrets_decrypt(target.secrets)}
        DeliveryTarget.objects.filter(pk=target.pk).update(config=config, secrets="")


class Migration(migrations.Migration):
    dependencies = [("delivery", "0003_daily_summary")]

    operations = [
        migrations.AddField(
            model_name="deliverytarget",
            name="secrets",
            field=models.TextField(
                blank=True,
                default="",
                editable=False,
                help_text="Encrypted JSON of the secret settings.",
            ),
        ),
        migrations.RunPython(seal, unseal),
    ]
