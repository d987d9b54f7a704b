"""tenant_create_many (the CLI import's batch path) keeps every rule of tenant_create."""

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from mandant.audit.models import AuditEntry
from mandant.core.actor import Actor
from mandant.core.errors import NotFound, PermissionDenied
from mandant.tenants.models import Tenant
from mandant.tenants.services import NewTenant, tenant_create, tenant_create_many


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def codes(error: ValidationError) -> dict[str, list[str]]:
    return {field: [e.code for e in errs] for field, errs in error.error_dict.items()}


def test_rows_are_created_like_tenant_create_and_errors_stay_per_row(world):
    before_children = Tenant.objects.get(pk=world.alpha.pk).child_count
    results = tenant_create_many(
        actor=Actor(user=world.paula),
        master=world.alpha,
        rows=[
            NewTenant(name="  Import   Eins "),
            NewTenant(name="kunde eins"),  # taken (case-insensitive)
            NewTenant(
                name="Import Zwei", type="CUSTOM", version="ENTERPRISE", charset="Windows-1252"
            ),
            NewTenant(name="IMPORT EINS"),  # taken by the first row of this batch
            NewTenant(name="Import Drei", type="SPECIAL"),
            NewTenant(name=""),
            NewTenant(name="Import Vier", charset="ISO-8859-1"),  # STANDARD is UTF-8
        ],
    )
    eins, taken, zwei, again, special, empty, vier = results
    assert isinstance(eins, Tenant) and isinstance(zwei, Tenant)
    assert eins.name == "Import Eins" and eins.slug == "import-eins"
    assert eins.status == "in_setup" and eins.charset == "UTF-8"
    assert zwei.status == "awaiting_configuration" and zwei.charset == "Windows-1252"
    assert codes(taken) == {"name": ["name_taken"]}
    assert codes(again) == {"name": ["name_taken"]}
    assert "type" in codes(special)
    assert codes(empty) == {"name": ["required"]}
    assert codes(vier) == {"charset": ["standard_is_utf8"]}
    # Consecutive paths after the existing children, as tenant_create would give.
    alpha = Tenant.objects.get(pk=world.alpha.pk)
    assert alpha.child_count == before_children + 2
    steps = sorted(int(t.path[-6:]) for t in Tenant.objects.filter(parent=alpha))
    assert steps == list(range(1, len(steps) + 1))
    assert eins.depth == zwei.depth == alpha.depth + 1
    assert eins.created_by == world.paula
    for tenant in (eins, zwei):
        entry = AuditEntry.objects.get(action="tenant.create", object_id=str(tenant.pk))
        assert entry.actor == world.paula and entry.role_source_id == world.alpha.pk
        assert entry.changes["master"] == world.alpha.pk
        assert entry.changes["name"] == tenant.name
    # The next single creation continues after the batch.
    later = tenant_create(
        actor=Actor(user=world.paula),
        name="Danach",
        type="STANDARD",
        version="BASIC",
        master=world.alpha,
    )
    assert int(later.path[-6:]) == len(steps) + 1


def test_slugs_are_unique_within_the_batch_and_against_the_database(world):
    results = tenant_create_many(
        actor=Actor(user=world.paula),
        master=world.alpha,
        rows=[
            NewTenant(name="Kunde-Eins"),
            NewTenant(name="Kunde Eins!"),
            NewTenant(name="Kunde Eins?"),
        ],
    )
    # "Kunde-Eins" and the others have the same slug base but distinct name keys.
    slugs = [r.slug for r in results if isinstance(r, Tenant)]
    assert len(slugs) == len(set(slugs)) == 3
    assert "kunde-eins" not in slugs  # the world's Kunde Eins has it
    assert Tenant.objects.filter(slug__in=slugs).count() == 3


def test_without_permission_every_valid_row_is_refused_and_nothing_is_written(world):
    before = Tenant.objects.count()
    results = tenant_create_many(
        actor=Actor(user=world.carl),  # Administrator of kunde1, product not active there
        master=world.kunde1,
        rows=[NewTenant(name="Verboten"), NewTenant(name="")],
    )
    assert isinstance(results[0], PermissionDenied)
    assert isinstance(results[1], ValidationError)
    assert Tenant.objects.count() == before


def test_a_master_out_of_reach_is_not_found(world):
    with pytest.raises(NotFound):
        tenant_create_many(
            actor=Actor(user=world.eve), master=world.alpha, rows=[NewTenant(name="Fremd")]
        )
