from django.db import migrations

ROOT_NAME = "Mandant Platform"


def create_root(apps, schema_editor):
    Tenant = apps.get_model("tenants", "Tenant")
    if not Tenant.objects.filter(path="000001").exists():
        Tenant.objects.create(
            name=ROOT_NAME,
            name_key=ROOT_NAME.casefold(),
            slug="platform",
            type="STANDARD",
            version="ENTERPRISE",
            path="000001",
            depth=0,
            charset="UTF-8",
            status="ready",
        )


class Migration(migrations.Migration):
    dependencies = [("tenants", "0001_initial")]
    operations = [migrations.RunPython(create_root, migrations.RunPython.noop)]
