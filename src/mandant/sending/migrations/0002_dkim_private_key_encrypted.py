"""DKIM private keys encrypted at rest: existing PEMs become ``enc1:<Fernet token>`` (key
derived from SECRET_KEY). Reversible: the reverse decrypts them to PEM again (it needs the
SECRET_KEY, or a SECRET_KEY_FALLBACKS entry, they were encrypted with)."""

from typing import Any

from django.db import migrations

import mandant.sending.key_sealing
from mandant.sending.key_sealing import is_sealed, seal, unseal


def encrypt_keys(apps: Any, schema_editor: Any) -> None:
    # Runs while the field is still a plain TextField, so update() writes what it is given.
    domain_model = apps.get_model("sending", "SendingDomain")
    rows = domain_model.objects.using(schema_editor.connection.alias)
    for pk, value in rows.values_list("pk", "dkim_private_key_pem").iterator():
        if value and not is_sealed(value):
            rows.filter(pk=pk).update(dkim_private_key_pem=seal(value))


def decrypt_keys(apps: Any, schema_editor: Any) -> None:
    domain_model = apps.get_model("sending", "SendingDomain")
    rows = domain_model.objects.using(schema_editor.connection.alias)
    for pk, value in rows.values_list("pk", "dkim_private_key_pem").iterator():
        if is_sealed(value):
            rows.filter(pk=pk).update(dkim_private_key_pem=unseal(value))


class Migration(migrations.Migration):
    dependencies = [
        ("sending", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(encrypt_keys, decrypt_keys, elidable=False),
        migrations.AlterField(
            model_name="sendingdomain",
            name="dkim_private_key_pem",
            field=mandant.sending.key_sealing.SealedTextField(editable=False),
        ),
    ]
