from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("reporting", "0014_connection_grant"),
    ]

    operations = [
        migrations.AddField(
            model_name="reporttemplate",
            name="csv_formula_escaping",
            field=models.BooleanField(
                default=True,
                help_text="CSV outputs: write text cells that start with = + - @ tab or CR with "
                "a leading ' so spreadsheets show them as text, not run them as formulas. Turn "
                "off only for programs that read the CSV.",
            ),
        ),
    ]
