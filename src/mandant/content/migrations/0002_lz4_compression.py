"""PostgreSQL: compress the large text columns with lz4 instead of pglz.

Copy Content writes many copies of the same HTML; pglz compression was most of its time on
PostgreSQL (docs/benchmarks.md). lz4 needs PostgreSQL 14+ built with lz4 (Debian's is); where
it is missing the default stays. SQLite does not compress.
"""

from django.db import migrations

COLUMNS = [
    ("content_contentitem", "html"),
    ("content_contentitem", "text"),
    ("content_contentversion", "html"),
    ("content_contentversion", "text"),
]


def use_lz4(apps, schema_editor):  # type: ignore[no-untyped-def]
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)")
        if not cursor.fetchone()[0]:
            return
        for table, column in COLUMNS:
            cursor.execute(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" SET COMPRESSION lz4')


class Migration(migrations.Migration):
    dependencies = [("content", "0001_initial")]

    operations = [migrations.RunPython(use_lz4, migrations.RunPython.noop)]
