"""The German wording of the seeded price list follows the product's German texts: the add-on
is "Copy Content" in German too, sub-tenants are "Submandanten", and "Master-Mandant" is
hyphenated. Only texts still as seeded are changed (operators may have edited them); published
conditions are never rewritten (a new version would be published for that)."""

from django.db import migrations

PRODUCT_TEXTS = {
    ("copy_content", "name_de"): ("Inhalte kopieren", "Copy Content"),
    ("copy_content", "description_de"): (
        "Übertrage Vorlagen, Textbausteine und Kampagnenentwürfe vom Master Mandanten in "
        "seine Unter-Mandanten. In PROFESSIONAL und ENTERPRISE enthalten.",
        "Übertrage Vorlagen, Textbausteine und Kampagnenentwürfe vom Master-Mandanten in "
        "seine Submandanten. In PROFESSIONAL und ENTERPRISE enthalten.",
    ),
    ("professional", "description_de"): (
        "Inhalte kopieren und Öffnungs-/Klick-Tracking inklusive, höhere Limits.",
        "Copy Content und Öffnungs-/Klick-Tracking inklusive, höhere Limits.",
    ),
    ("tenant_management", "description_de"): (
        "Lege Unter-Mandanten für Deine Kunden an. Jeder Unter-Mandant kostet die "
        "monatliche Gebühr seiner Edition und wird Deinem Abrechnungskonto berechnet.",
        "Lege Submandanten für Deine Kunden an. Jeder Submandant kostet die "
        "monatliche Gebühr seiner Edition und wird Deinem Abrechnungskonto berechnet.",
    ),
}
UNIT_DE = (
    "je Unter-Mandant: die monatliche Gebühr seiner Edition",
    "je Submandant: die monatliche Gebühr seiner Edition",
)


def rename(apps, schema_editor, *, backwards=False):
    Product = apps.get_model("billing", "Product")
    ProductPrice = apps.get_model("billing", "ProductPrice")
    for (key, field), (old, new) in PRODUCT_TEXTS.items():
        before, after = (new, old) if backwards else (old, new)
        Product.objects.filter(key=key, **{field: before}).update(**{field: after})
    before, after = (UNIT_DE[1], UNIT_DE[0]) if backwards else UNIT_DE
    ProductPrice.objects.filter(product__key="tenant_management", unit_de=before).update(
        unit_de=after
    )


def rename_back(apps, schema_editor):
    rename(apps, schema_editor, backwards=True)


class Migration(migrations.Migration):
    dependencies = [("billing", "0002_price_list")]

    operations = [migrations.RunPython(rename, rename_back)]
