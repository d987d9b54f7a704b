"""The initial price list (billing/seed.py): editions, Tenant management, add-ons, usage;
and the activation records of tenants whose Tenant-management flag was set before."""

from django.db import migrations


def create_price_list(apps, schema_editor):
    from mandant.billing.seed import seed_price_list

    seed_price_list(
        apps.get_model("billing", "Product"),
        apps.get_model("billing", "ProductPrice"),
        apps.get_model("billing", "ConditionsVersion"),
    )


def backfill_tenant_management(apps, schema_editor):
    """Tenants whose flag operators set before Tenant management became a product get the
    activation record the flag now stands for (added by service staff, from today)."""
    from django.utils import timezone

    Tenant = apps.get_model("tenants", "Tenant")
    Product = apps.get_model("billing", "Product")
    Activation = apps.get_model("billing", "Activation")
    ActivationEvent = apps.get_model("billing", "ActivationEvent")
    product = Product.objects.filter(key="tenant_management").first()
    if product is None:
        return
    now = timezone.now()
    for tenant in Tenant.objects.filter(tenant_management_active=True).only("pk"):
        if Activation.objects.filter(tenant=tenant, product=product, ended_at=None).exists():
            continue
        activation = Activation.objects.create(
            tenant=tenant, product=product, started_at=now, acting_role=50
        )
        ActivationEvent.objects.create(
            tenant=tenant, product=product, activation=activation, kind="added", at=now
        )


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]
    operations = [
        migrations.RunPython(create_price_list, migrations.RunPython.noop),
        migrations.RunPython(backfill_tenant_management, migrations.RunPython.noop),
    ]
