"""Pin the tree path to the byte-order collation on PostgreSQL.

The subtree range (path >= p AND path < successor(p)) holds under every common collation,
but a database whose default collation orders digit runs numerically (ICU "kn") would break
it (docs/benchmarks.md). "C" also makes the range comparisons cheaper. SQLite compares
bytes (BINARY) already.
"""

from django.db import migrations


def pin_collation(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            'ALTER TABLE tenants_tenant ALTER COLUMN path TYPE varchar(255) COLLATE "C"'
        )


def unpin_collation(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            'ALTER TABLE tenants_tenant ALTER COLUMN path TYPE varchar(255) COLLATE "default"'
        )


class Migration(migrations.Migration):
    dependencies = [("tenants", "0002_platform_root")]
    operations = [migrations.RunPython(pin_collation, unpin_collation)]
