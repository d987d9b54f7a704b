"""tenant_create and tenant_mark_configured: the rules of the service layer."""

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

import logo_corpus as corpus
from conftest import PASSWORD
from mandant.accounts.roles import Role
from mandant.accounts.services import membership_set, user_create
from mandant.audit.models import AuditEntry
from mandant.core.actor import Actor
from mandant.core.errors import NotFound, PermissionDenied
from mandant.tenants import services
from mandant.tenants.models import PATH_STEP_WIDTH, Tenant
from mandant.tenants.selectors import subtree_q, tenant_filter
from mandant.tenants.services import LogoUpload, tenant_create, tenant_mark_configured


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def create(
    world, *, by=None, name="Neue Firma", type="STANDARD", version="BASIC", master=None, **kwargs
):
    return tenant_create(
        actor=Actor(user=by or world.paula),
        name=name,
        type=type,
        version=version,
        master=master or world.alpha,
        **kwargs,
    )


def refused(world, **kwargs) -> dict[str, list[tuple[str, str]]]:
    """Field → [(code, message)] of the ValidationError tenant_create raises."""
    count = Tenant.objects.count()
    with pytest.raises(ValidationError) as info:
        create(world, **kwargs)
    assert Tenant.objects.count() == count
    return {
        field: [(err.code, err.messages[0]) for err in errs]
        for field, errs in info.value.error_dict.items()
    }


def member(world, role: Role, tenant=None, email="member@alpha.example"):
    user = user_create(email=email, password=PASSWORD)
    membership_set(actor=Actor(user=world.olga), tenant=tenant or world.alpha, user=user, role=role)
    return user


def refresh(*tenants):
    for tenant in tenants:
        tenant.refresh_from_db()


# --- names ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "   ", "\t"])
def test_name_is_required(world, name):
    errors = refused(world, name=name)
    assert [code for code, _ in errors["name"]] == ["required"]


def test_name_is_trimmed_and_whitespace_collapsed(world):
    tenant = create(world, name="   Neue    Firma\u00a0 GmbH  ")
    assert tenant.name == "Neue Firma GmbH"
    assert tenant.name_key == "neue firma gmbh"
    assert Tenant.objects.get(pk=tenant.pk).name == "Neue Firma GmbH"


def test_name_of_100_characters_is_accepted(world):
    assert create(world, name="N" * 100).name == "N" * 100


def test_name_of_101_characters_is_refused_stating_both_numbers(world):
    errors = refused(world, name="N" * 101)
    code, message = errors["name"][0]
    assert code == "max_length"
    assert "100" in message and "101" in message


@pytest.mark.parametrize(
    ("name", "code_point"),
    [
        ("Neue\x00Firma", "U+0000"),
        ("Neue\x1bFirma", "U+001B"),
        ("Neue\u200bFirma", "U+200B"),
        ("Neue \u202eamriF", "U+202E"),
    ],
)
def test_control_zero_width_and_bidi_characters_are_refused(world, name, code_point):
    code, message = refused(world, name=name)["name"][0]
    assert code == "invalid_characters"
    assert code_point in message


@pytest.mark.parametrize(
    "name",
    [
        "Kunde Eins",
        "KUNDE EINS",
        "kunde eins ",
        "  Kunde   Eins",
        "Ｋｕｎｄｅ Ｅｉｎｓ",
        "Kunde\u00a0Eins",
        "AGENTUR ALPHA",
        "fremdagentur",
    ],
)
def test_names_are_unique_platform_wide_ignoring_case_and_look_alikes(world, name):
    code, message = refused(world, name=name)["name"][0]
    assert code == "name_taken"
    assert "already exists" in message


def test_uniqueness_crosses_partner_boundaries(world):
    # Eve (Fremdagentur) cannot see Kunde Eins, but its name is taken on the platform.
    code, _message = refused(world, by=world.eve, master=world.fremd, name="kunde EINS")["name"][0]
    assert code == "name_taken"


def test_a_name_whose_normalised_key_is_very_long_is_refused_cleanly(world):
    # U+FDFA is one character that NFKC expands to 18: the key must never overflow the
    # database column (PostgreSQL would raise DataError, a server error).
    code, _message = refused(world, name="\ufdfa" * 100)["name"][0]
    assert code == "max_length"
    tenant = create(world, name="\ufdfa" * 22)
    assert len(Tenant.objects.get(pk=tenant.pk).name_key) == 22 * 18


# --- slugs ----------------------------------------------------------------------------------


def test_slug_is_derived_from_the_name_and_made_unique(world):
    first = create(world, name="Neue Firma")
    second = create(world, name="Neue-Firma")  # another name, same slug
    third = create(world, name="東京支店")  # nothing sluggable
    assert (first.slug, second.slug) == ("neue-firma", "neue-firma-2")
    assert third.slug == "tenant"
    assert create(world, name="大阪支店").slug == "tenant-2"
    # German umlauts and ß are spelled out as Germans do; other accents are folded.
    assert create(world, name="QA Prüf GmbH").slug == "qa-pruef-gmbh"
    assert create(world, name="Große Straße Café").slug == "grosse-strasse-cafe"


# --- who may create where -------------------------------------------------------------------


def test_eve_cannot_create_under_alpha_or_below_it(world):
    for master in (world.alpha, world.kunde1, world.filiale):
        with pytest.raises(NotFound):
            create(world, by=world.eve, master=master)
    assert not Tenant.objects.filter(name="Neue Firma").exists()


def test_eve_cannot_create_under_the_root(world):
    with pytest.raises(NotFound):
        create(world, by=world.eve, master=world.root)


def test_carl_is_administrator_but_kunde1_lacks_the_product(world):
    for master in (world.kunde1, world.filiale):
        with pytest.raises(PermissionDenied) as info:
            create(world, by=world.carl, master=master)
        assert "Tenant management is not active" in info.value.message
    assert world.kunde1.child_count == 1


def test_carl_can_create_once_the_product_is_active_for_kunde1(world):
    services.tenant_set_management_active(
        actor=Actor(user=world.olga), tenant=world.kunde1, active=True
    )
    tenant = create(world, by=world.carl, master=world.kunde1)
    assert tenant.parent_id == world.kunde1.pk


def test_carl_cannot_create_next_to_his_tenant(world):
    with pytest.raises(NotFound):
        create(world, by=world.carl, master=world.alpha)
    with pytest.raises(NotFound):
        create(world, by=world.carl, master=world.kunde2)


@pytest.mark.parametrize("role", [Role.EDITOR, Role.VIEWER])
def test_editors_and_viewers_may_not_create(world, role):
    user = member(world, role)
    with pytest.raises(PermissionDenied) as info:
        create(world, by=user, master=world.kunde1)
    assert "Administrator or Customer Service" in info.value.message


@pytest.mark.parametrize("role", [Role.ADMINISTRATOR, Role.CUSTOMER_SERVICE])
def test_administrators_and_customer_service_may_create(world, role):
    user = member(world, role)
    assert create(world, by=user, master=world.kunde1).parent_id == world.kunde1.pk


def test_inactive_users_cannot_create(world):
    world.paula.is_active = False
    world.paula.save()
    with pytest.raises(NotFound):
        create(world)


def test_operators_may_create_anywhere(world):
    tenant = create(world, by=world.olga, master=world.filiale)
    assert tenant.parent_id == world.filiale.pk


# --- type, version, charset, status ---------------------------------------------------------


def test_standard_with_another_charset_is_refused_clearly(world):
    for charset in ("ISO-8859-1", "Windows-1252", "bogus"):
        code, message = refused(world, charset=charset)["charset"][0]
        assert code == "standard_is_utf8"
        assert "UTF-8" in message and "CUSTOM" in message


@pytest.mark.parametrize("charset", [None, "", "UTF-8"])
def test_standard_gets_utf8(world, charset):
    assert create(world, charset=charset).charset == "UTF-8"


@pytest.mark.parametrize("charset", ["UTF-8", "ISO-8859-1", "ISO-8859-15", "Windows-1252"])
def test_custom_may_choose_its_charset(world, charset):
    tenant = create(world, type="CUSTOM", charset=charset)
    assert Tenant.objects.get(pk=tenant.pk).charset == charset


def test_custom_without_charset_gets_utf8(world):
    assert create(world, type="CUSTOM").charset == "UTF-8"


@pytest.mark.parametrize("charset", ["KOI8-R", "utf-8", "latin1"])
def test_custom_with_an_unknown_charset_is_refused(world, charset):
    code, message = refused(world, type="CUSTOM", charset=charset)["charset"][0]
    assert code == "invalid_choice"
    assert charset in message
    assert "UTF-8, ISO-8859-1, ISO-8859-15, Windows-1252" in message


def test_unknown_type_and_version_are_refused(world):
    errors = refused(world, type="PREMIUM", version="GOLD")
    assert errors["type"][0][0] == "invalid_choice"
    assert "PREMIUM" in errors["type"][0][1]
    assert errors["version"][0][0] == "invalid_choice"
    assert "BASIC, PROFESSIONAL, ENTERPRISE" in errors["version"][0][1]


def test_all_field_errors_are_reported_together(world):
    errors = refused(
        world,
        name="",
        type="CUSTOM",
        charset="KOI8-R",
        version="GOLD",
        logo=LogoUpload(data=b"", filename="x.png"),
    )
    assert set(errors) == {"name", "version", "charset", "logo"}


def test_custom_starts_awaiting_configuration_standard_in_setup(world):
    custom = create(world, name="Custom GmbH", type="CUSTOM", version="ENTERPRISE")
    standard = create(world, name="Standard GmbH")
    assert custom.status == "awaiting_configuration"
    assert standard.status == "in_setup"
    assert custom.configured_at is None and standard.configured_at is None
    assert world.kunde2.status == "awaiting_configuration"


def test_created_by_and_flags(world):
    tenant = create(world)
    assert tenant.created_by == world.paula
    assert tenant.tenant_management_active is False
    assert tenant.child_count == 0
    assert not tenant.has_logo


# --- logo -----------------------------------------------------------------------------------


def test_a_valid_logo_is_stored_as_png(world):
    tenant = create(world, logo=LogoUpload(data=corpus.jpeg(90, 30), filename="logo.jpg"))
    stored = Tenant.objects.get(pk=tenant.pk)
    assert bytes(stored.logo_png).startswith(corpus.PNG_SIGNATURE)
    assert (stored.logo_width, stored.logo_height) == (90, 30)
    assert stored.has_logo


def test_an_invalid_logo_refuses_the_whole_creation(world):
    errors = refused(world, logo=LogoUpload(data=corpus.png(301, 100), filename="logo.png"))
    assert errors["logo"][0][0] == "dimensions"


# --- mark configured ------------------------------------------------------------------------


def test_only_operators_may_mark_configured(world):
    for user in (world.paula, world.carl, world.eve):
        with pytest.raises(PermissionDenied):
            tenant_mark_configured(actor=Actor(user=user), tenant=world.kunde2)
    refresh(world.kunde2)
    assert world.kunde2.status == "awaiting_configuration"
    assert world.kunde2.configured_at is None


def test_mark_configured_moves_status_on_and_is_audited(world):
    tenant = tenant_mark_configured(actor=Actor(user=world.olga), tenant=world.kunde2)

    refresh(world.kunde2)
    assert world.kunde2.status == "in_setup"
    assert world.kunde2.configured_at is not None
    assert world.kunde2.configured_by == world.olga
    assert tenant.status == "in_setup"
    entry = AuditEntry.objects.get(action="tenant.mark_configured")
    assert entry.actor == world.olga
    assert entry.tenant_id == world.kunde2.pk
    assert entry.acting_role == Role.OPERATOR
    assert entry.role_source is None
    assert entry.changes == {"status": ["awaiting_configuration", "in_setup"]}


def test_mark_configured_twice_changes_and_audits_once(world):
    olga = Actor(user=world.olga)
    first = tenant_mark_configured(actor=olga, tenant=world.kunde2)
    second = tenant_mark_configured(actor=olga, tenant=world.kunde2)
    assert second.configured_at == first.configured_at
    assert AuditEntry.objects.filter(action="tenant.mark_configured").count() == 1


# --- the tree -------------------------------------------------------------------------------


def test_depth_path_and_child_count_of_the_world(world):
    refresh(world.root, world.alpha, world.kunde1, world.filiale, world.kunde2)
    assert [t.depth for t in (world.root, world.alpha, world.kunde1, world.filiale)] == [0, 1, 2, 3]
    assert world.alpha.path.startswith(world.root.path)
    assert world.kunde1.path[:-PATH_STEP_WIDTH] == world.alpha.path
    assert world.filiale.path[:-PATH_STEP_WIDTH] == world.kunde1.path
    assert world.alpha.child_count == 2
    assert world.kunde1.child_count == 1
    assert world.filiale.child_count == 0
    assert world.root.child_count == 2


def test_tree_below_depth_three(world):
    level4 = create(world, name="Ebene Vier", master=world.filiale)
    level5 = create(world, name="Ebene Fünf", master=level4)

    assert (level4.depth, level5.depth) == (4, 5)
    assert level4.parent_id == world.filiale.pk and level5.parent_id == level4.pk
    assert level4.path == world.filiale.path + "000001"
    assert level5.path == level4.path + "000001"
    assert len(level5.path) == PATH_STEP_WIDTH * 6
    assert level5.ancestor_paths() == [
        world.root.path,
        world.alpha.path,
        world.kunde1.path,
        world.filiale.path,
        level4.path,
        level5.path,
    ]
    refresh(world.filiale, level4, level5)
    assert (world.filiale.child_count, level4.child_count, level5.child_count) == (1, 1, 0)


def test_siblings_get_consecutive_paths(world):
    children = [create(world, name=f"Filiale {i}", master=world.filiale) for i in range(1, 13)]
    steps = [int(c.path[-PATH_STEP_WIDTH:]) for c in children]
    assert steps == list(range(1, 13))
    assert all(c.path[:-PATH_STEP_WIDTH] == world.filiale.path for c in children)
    assert len({c.path for c in children}) == 12
    refresh(world.filiale)
    assert world.filiale.child_count == 12


def test_a_sibling_created_later_continues_after_the_highest_path(world):
    third = create(world, name="Kunde Drei")
    assert int(third.path[-PATH_STEP_WIDTH:]) == 3
    refresh(world.alpha)
    assert world.alpha.child_count == 3


def test_subtree_range_query_returns_exactly_the_subtree(world):
    level4 = create(world, name="Ebene Vier", master=world.filiale)
    create(world, name="Ebene Fünf", master=level4)
    # Give kunde1 and kunde2 many siblings/children so that prefixes like "…1" vs "…10" exist.
    extra = [create(world, name=f"Kunde Extra {i}") for i in range(10)]
    create(world, name="Unter Extra", master=extra[-1])
    create(world, name="Unter Zwei", master=world.kunde2)

    kunde1_subtree = set(
        Tenant.objects.filter(subtree_q(world.kunde1)).values_list("name", flat=True)
    )
    assert kunde1_subtree == {"Kunde Eins", "Filiale Eins-A", "Ebene Vier", "Ebene Fünf"}

    filiale_subtree = {t.name for t in tenant_filter(root=world.filiale)}
    assert filiale_subtree == {"Filiale Eins-A", "Ebene Vier", "Ebene Fünf"}

    alpha_subtree = Tenant.objects.filter(subtree_q(world.alpha))
    expected = {t.pk for t in Tenant.objects.all() if t.path.startswith(world.alpha.path)}
    assert {t.pk for t in alpha_subtree} == expected
    assert world.fremd.pk not in expected and world.root.pk not in expected
    assert len(expected) == 4 + 2 + 10 + 2

    for tenant in Tenant.objects.all():
        by_range = {t.pk for t in Tenant.objects.filter(subtree_q(tenant))}
        by_prefix = {t.pk for t in Tenant.objects.all() if t.path.startswith(tenant.path)}
        assert by_range == by_prefix, tenant.name


def test_tenant_filter_orders_in_tree_order(world):
    create(world, name="Unter Zwei", master=world.kunde2)
    names = [t.name for t in tenant_filter(root=world.alpha)]
    assert names == ["Agentur Alpha", "Kunde Eins", "Filiale Eins-A", "Kunde Zwei", "Unter Zwei"]


def test_a_too_deep_tree_is_refused_cleanly(world):
    # The path column holds 255 characters: the deepest possible tenant must be refused
    # with a message, never with a database error.
    max_depth = Tenant._meta.get_field("path").max_length // PATH_STEP_WIDTH - 1
    master = world.filiale
    olga = Actor(user=world.olga)
    while master.depth < max_depth:
        master = tenant_create(
            actor=olga,
            name=f"Ebene {master.depth + 1}",
            type="STANDARD",
            version="BASIC",
            master=master,
        )
    assert len(master.path) <= 255
    with pytest.raises(ValidationError) as info:
        tenant_create(
            actor=olga, name="Eine Ebene zu tief", type="STANDARD", version="BASIC", master=master
        )
    assert "master" in info.value.error_dict
    assert not Tenant.objects.filter(name="Eine Ebene zu tief").exists()


# --- atomicity and audit --------------------------------------------------------------------


def test_failure_after_the_insert_leaves_nothing_behind(world, monkeypatch):
    def broken_audit(**kwargs):
        raise RuntimeError("audit store unavailable")

    monkeypatch.setattr(services, "audit_record", broken_audit)
    tenants_before = Tenant.objects.count()
    audits_before = AuditEntry.objects.count()

    with pytest.raises(RuntimeError):
        create(world, name="Halb Angelegt", master=world.kunde1)

    assert Tenant.objects.count() == tenants_before
    assert not Tenant.objects.filter(name_key="halb angelegt").exists()
    assert AuditEntry.objects.count() == audits_before
    refresh(world.kunde1)
    assert world.kunde1.child_count == 1
    monkeypatch.undo()
    again = create(world, name="Halb Angelegt", master=world.kunde1)
    assert again.path == world.kunde1.path + "000002"


def test_one_audit_row_per_creation_with_actor_role_and_source(world):
    before = AuditEntry.objects.filter(action="tenant.create").count()
    tenant = create(
        world, name="Audit GmbH", type="CUSTOM", charset="ISO-8859-1", version="PROFESSIONAL"
    )

    rows = AuditEntry.objects.filter(action="tenant.create")
    assert rows.count() == before + 1
    entry = rows.get(object_id=str(tenant.pk))
    assert entry.actor == world.paula
    assert entry.acting_role == 200
    assert entry.role_source == world.alpha
    assert entry.tenant_id == tenant.pk
    assert entry.via_api_key is None
    assert entry.object_type == "tenants.tenant"
    assert entry.changes == {
        "name": "Audit GmbH",
        "type": "CUSTOM",
        "version": "PROFESSIONAL",
        "master": world.alpha.pk,
        "charset": "ISO-8859-1",
        "logo": False,
    }


def test_inherited_role_is_audited_with_its_source(world):
    tenant = create(world, name="Unter Kunde Eins", master=world.kunde1)
    entry = AuditEntry.objects.get(action="tenant.create", object_id=str(tenant.pk))
    assert entry.acting_role == 200
    assert entry.role_source == world.alpha


def test_refused_creations_write_no_audit_row(world):
    before = AuditEntry.objects.count()
    refused(world, name="Kunde Eins")
    with pytest.raises(NotFound):
        create(world, by=world.eve)
    with pytest.raises(PermissionDenied):
        create(world, by=world.carl, master=world.kunde1)
    assert AuditEntry.objects.count() == before
