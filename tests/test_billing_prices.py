"""The price list: seeded products, price history by date, conditions versions, the operator
pages and the Django admin."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone

from mandant.accounts.roles import Role
from mandant.billing import services
from mandant.billing.models import ConditionsVersion, Product, ProductPrice
from mandant.billing.seed import PRICES_FROM
from mandant.billing.selectors import (
    billing_account_for,
    current_conditions,
    last_day_in_force,
    period_end,
    price_list,
    price_on,
    prices_on,
    product_by_key,
)
from mandant.core.actor import Actor
from mandant.core.errors import PermissionDenied


def product(key: str) -> Product:
    found = product_by_key(key)
    assert found is not None
    return found


def test_the_migration_seeds_a_price_list(db):
    keys = {p.key: p.kind for p in Product.objects.all()}
    assert keys == {
        "basic": "edition",
        "professional": "edition",
        "enterprise": "edition",
        "tenant_management": "per_tenant",
        "copy_content": "addon",
        "tracking": "addon",
        "dedicated_ip": "addon",
        "extra_mails": "usage",
    }
    basic = price_on(product("basic"), PRICES_FROM)
    assert basic is not None and basic.monthly_fee == Decimal("29.00")
    assert basic.vat_rate == Decimal("19.00")
    ip = price_on(product("dedicated_ip"), PRICES_FROM)
    assert ip is not None and (ip.monthly_fee, ip.setup_fee) == (Decimal("49.00"), Decimal("99"))
    mails = price_on(product("extra_mails"), PRICES_FROM)
    assert mails is not None and mails.unit_price == Decimal("1.5") and "1,000" in mails.unit_en
    # Conditions v1 in both languages for everything that is activated online.
    for key in ("tenant_management", "copy_content", "tracking", "dedicated_ip"):
        conditions = current_conditions(product(key))
        assert conditions is not None and conditions.version == 1
        assert "Scope" in conditions.text_en and "Geltungsbereich" in conditions.text_de
    assert current_conditions(product("basic")) is None
    assert product("tracking").trial_days == 14
    assert product("tenant_management").name_de == "Mandantenverwaltung"


def test_price_on_a_date_follows_the_history(db):
    tracking = product("tracking")
    olga = Actor(user=_operator())
    today = timezone.localdate()
    services.price_add(actor=olga, product=tracking, valid_from=today, monthly_fee="11.00")
    services.price_add(
        actor=olga,
        product=tracking,
        valid_from=today + timedelta(days=30),
        monthly_fee="12.50",
        vat_rate="7",
    )
    assert price_on(tracking, PRICES_FROM - timedelta(days=1)) is None
    assert price_on(tracking, PRICES_FROM).monthly_fee == Decimal("9.00")  # type: ignore[union-attr]
    assert price_on(tracking, today - timedelta(days=1)).monthly_fee == Decimal("9.00")  # type: ignore[union-attr]
    assert price_on(tracking, today).monthly_fee == Decimal("11.00")  # type: ignore[union-attr]
    assert price_on(tracking, today + timedelta(days=29)).monthly_fee == Decimal("11.00")  # type: ignore[union-attr]
    later = price_on(tracking, today + timedelta(days=30))
    assert later is not None and (later.monthly_fee, later.vat_rate) == (
        Decimal("12.50"),
        Decimal("7.00"),
    )
    # Many products at once: the same answer in one query.
    both = prices_on([tracking, product("basic")], today + timedelta(days=40))
    assert both[tracking.pk].monthly_fee == Decimal("12.50")
    assert both[product("basic").pk].monthly_fee == Decimal("29.00")
    assert ProductPrice.objects.filter(product=tracking).count() == 3


def test_a_planned_price_for_the_same_day_is_replaced_but_past_days_keep_theirs(db):
    tracking = product("tracking")
    olga = Actor(user=_operator())
    day = timezone.localdate() + timedelta(days=10)
    services.price_add(actor=olga, product=tracking, valid_from=day, monthly_fee="10")
    services.price_add(actor=olga, product=tracking, valid_from=day, monthly_fee="10.50")
    assert price_on(tracking, day).monthly_fee == Decimal("10.50")  # type: ignore[union-attr]
    with pytest.raises(ValidationError) as info:
        services.price_add(
            actor=olga,
            product=tracking,
            valid_from=timezone.localdate() - timedelta(days=1),
            monthly_fee="1",
        )
    assert "valid_from" in info.value.error_dict


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("monthly_fee", "-1"),
        ("monthly_fee", "abc"),
        ("monthly_fee", "1.234"),
        ("unit_price", "0.00001"),
        ("vat_rate", "101"),
        ("setup_fee", "NaN"),
        ("monthly_fee", "100000000"),
    ],
)
def test_bad_amounts_are_refused_with_a_message(db, field, value):
    olga = Actor(user=_operator())
    before = ProductPrice.objects.count()
    with pytest.raises(ValidationError) as info:
        services.price_add(
            actor=olga,
            product=product("tracking"),
            valid_from=timezone.localdate(),
            **{field: value},
        )
    assert field in info.value.error_dict
    assert ProductPrice.objects.count() == before


def test_a_unit_price_needs_a_unit(db):
    with pytest.raises(ValidationError) as info:
        services.price_add(
            actor=Actor(user=_operator()),
            product=product("extra_mails"),
            valid_from=timezone.localdate(),
            unit_price="2",
        )
    assert "unit_en" in info.value.error_dict


def test_only_operators_keep_the_price_list(world):
    for user in (world.paula, world.carl):
        with pytest.raises(PermissionDenied):
            services.price_add(
                actor=Actor(user=user),
                product=product("tracking"),
                valid_from=timezone.localdate(),
                monthly_fee="1",
            )
        with pytest.raises(PermissionDenied):
            services.conditions_publish(
                actor=Actor(user=user), product=product("tracking"), text_en="x", text_de="y"
            )


def test_conditions_versions_count_up_and_the_newest_is_current(world):
    olga = Actor(user=world.olga)
    tracking = product("tracking")
    v2 = services.conditions_publish(
        actor=olga, product=tracking, text_en="New terms.", text_de="Neue Bedingungen."
    )
    assert v2.version == 2
    assert current_conditions(tracking) == v2
    assert current_conditions(tracking, at=v2.published_at - timedelta(seconds=1)).version == 1  # type: ignore[union-attr]
    with pytest.raises(ValidationError) as info:  # the same text again: nothing new
        services.conditions_publish(
            actor=olga, product=tracking, text_en="New terms.", text_de="Neue Bedingungen."
        )
    assert "text_en" in info.value.error_dict
    with pytest.raises(ValidationError) as info:
        services.conditions_publish(actor=olga, product=tracking, text_en=" ", text_de="")
    assert set(info.value.error_dict) == {"text_en", "text_de"}
    assert ConditionsVersion.objects.filter(product=tracking).count() == 2


def test_product_settings_are_validated(world):
    olga = Actor(user=world.olga)
    tracking = product("tracking")
    with pytest.raises(ValidationError) as info:
        services.product_update(
            actor=olga, product=tracking, name_en="", editions=["GOLD"], activation_role=300
        )
    assert set(info.value.error_dict) == {"name_en", "editions", "activation_role"}
    updated = services.product_update(
        actor=olga,
        product=tracking,
        editions=["BASIC"],
        activation_role=Role.CUSTOMER_SERVICE,
        trial_days=0,
    )
    assert (updated.editions, updated.activation_role, updated.trial_days) == (
        ["BASIC"],
        Role.CUSTOMER_SERVICE,
        0,
    )


def test_billing_period_ends_at_the_first_of_the_next_month_local_time(settings):
    settings.TIME_ZONE = "Europe/Berlin"
    berlin = timezone.get_default_timezone()
    # 31 January 23:30 in Berlin is still January there (22:30 UTC).
    at = datetime(2026, 1, 31, 23, 30, tzinfo=berlin)
    end = period_end(at)
    assert end == datetime(2026, 2, 1, tzinfo=berlin)
    assert last_day_in_force(end) == date(2026, 1, 31)
    assert period_end(datetime(2026, 12, 15, tzinfo=berlin)) == datetime(2027, 1, 1, tzinfo=berlin)


def test_billing_account_is_the_nearest_one_upwards(world):
    from mandant.billing.models import BillingAccount

    assert billing_account_for(world.filiale) is None
    alpha = BillingAccount.objects.create(tenant=world.alpha, name="Agentur Alpha GmbH")
    assert billing_account_for(world.filiale) == alpha
    assert billing_account_for(world.alpha) == alpha
    own = BillingAccount.objects.create(tenant=world.kunde1, name="Kunde Eins AG")
    assert billing_account_for(world.filiale) == own
    assert billing_account_for(world.kunde2) == alpha
    assert billing_account_for(world.fremd) is None


def test_a_flushed_price_list_is_seeded_again(db):
    ConditionsVersion.objects.all().delete()
    ProductPrice.objects.all().delete()
    Product.objects.all().delete()
    assert services.ensure_price_list() == 8
    assert services.ensure_price_list() == 0
    assert price_on(product("tracking"), timezone.localdate()) is not None


# --- operator pages and admin -----------------------------------------------------------


def test_operator_price_list_page(world):
    response = world.client_for(world.olga).get("/operator/billing/products/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Tenant management" in body and "29.00\u00a0€" in body
    assert world.client_for(world.paula).get("/operator/billing/products/").status_code == 404


def test_operator_changes_a_price_from_a_date(world):
    client = world.client_for(world.olga)
    day = timezone.localdate() + timedelta(days=5)
    response = client.post(
        "/operator/billing/products/tracking/",
        {
            "form": "price",
            "valid_from": day.isoformat(),
            "monthly_fee": "9.90",
            "setup_fee": "0",
            "unit_price": "0",
            "unit_en": "",
            "unit_de": "",
            "vat_rate": "19",
        },
    )
    assert response.status_code == 302
    assert price_on(product("tracking"), day).monthly_fee == Decimal("9.90")  # type: ignore[union-attr]
    # A past date: refused, the form shown again with the input kept.
    response = client.post(
        "/operator/billing/products/tracking/",
        {
            "form": "price",
            "valid_from": "2020-01-01",
            "monthly_fee": "1.11",
            "setup_fee": "0",
            "unit_price": "0",
            "vat_rate": "19",
        },
    )
    assert response.status_code == 422
    body = response.content.decode()
    assert "past days keep their prices" in body and 'value="1.11"' in body


def test_the_price_change_message_dates_in_the_page_language(world):
    world.olga.language = "de"
    world.olga.save(update_fields=["language"])
    client = world.client_for(world.olga)
    day = date(2030, 12, 1)
    response = client.post(
        "/operator/billing/products/tracking/",
        {
            "form": "price",
            "valid_from": day.isoformat(),
            "monthly_fee": "9.90",
            "setup_fee": "0",
            "unit_price": "0",
            "vat_rate": "19",
        },
        follow=True,
    )
    body = response.content.decode()
    assert "Die neuen Preise gelten ab 1. Dezember 2030." in body
    assert "2030-12-01." not in body


def test_operator_publishes_conditions_and_edits_settings(world):
    client = world.client_for(world.olga)
    response = client.post(
        "/operator/billing/products/copy_content/",
        {"form": "conditions", "text_en": "Version two.", "text_de": "Version zwei."},
    )
    assert response.status_code == 302
    assert current_conditions(product("copy_content")).version == 2  # type: ignore[union-attr]
    response = client.post(
        "/operator/billing/products/copy_content/",
        {
            "form": "settings",
            "name_en": "Copy Content",
            "name_de": "Inhalte kopieren",
            "description_en": "",
            "description_de": "",
            "editions": ["BASIC", "PROFESSIONAL"],
            "activation_role": "200",
            "trial_days": "7",
            "deactivation_mode": "immediate",
            "offered": "on",
            "sort_order": "30",
        },
    )
    assert response.status_code == 302
    copy = product("copy_content")
    assert (copy.trial_days, copy.deactivation_mode, copy.activation_role) == (
        7,
        "immediate",
        200,
    )
    assert client.get("/operator/billing/products/copy_content/").status_code == 200
    assert client.get("/operator/billing/products/no-such/").status_code == 404
    assert client.post("/operator/billing/products/copy_content/", {"form": "x"}).status_code == 404


def test_admin_pages_of_the_billing_app_open_for_operators(world):
    client = world.client_for(world.olga)
    for url in (
        "/admin/billing/product/",
        f"/admin/billing/product/{product('tracking').pk}/change/",
        "/admin/billing/activation/",
        "/admin/billing/activationevent/",
        "/admin/billing/conditionsacceptance/",
        "/admin/billing/billingaccount/",
    ):
        assert client.get(url).status_code == 200, url


def test_price_list_is_three_queries(db, django_assert_num_queries):
    with django_assert_num_queries(3):
        rows = price_list()
    assert len(rows) == 8


def _operator():  # type: ignore[no-untyped-def]
    from mandant.accounts.services import user_create

    return user_create(email="olga@mandant.example", password="x" * 20, is_staff=True)


@pytest.fixture(autouse=True)
def _noon():  # type: ignore[no-untyped-def]
    # Away from midnight: "today" is the same day in UTC and in Berlin.
    with time_machine.travel(datetime(2026, 3, 11, 12, 0, tzinfo=UTC), tick=True):
        yield


def test_admin_refuses_a_price_for_a_past_day_and_takes_a_future_one(world):
    tracking = product("tracking")
    client = world.client_for(world.olga)
    url = f"/admin/billing/product/{tracking.pk}/change/"

    def post(valid_from: str):  # type: ignore[no-untyped-def]
        existing = ProductPrice.objects.filter(product=tracking).count()
        return client.post(
            url,
            {
                "kind": "addon",
                "name_en": tracking.name_en,
                "name_de": tracking.name_de,
                "description_en": "",
                "description_de": "",
                "editions": [],
                "activation_role": "100",
                "trial_days": "14",
                "deactivation_mode": "period_end",
                "offered": "on",
                "sort_order": "31",
                "prices-TOTAL_FORMS": str(existing + 1),
                "prices-INITIAL_FORMS": str(existing),
                "prices-MIN_NUM_FORMS": "0",
                "prices-MAX_NUM_FORMS": "1000",
                **{
                    f"prices-{i}-id": str(price.pk)
                    for i, price in enumerate(
                        ProductPrice.objects.filter(product=tracking).order_by("-valid_from")
                    )
                },
                **{f"prices-{i}-product": str(tracking.pk) for i in range(existing + 1)},
                f"prices-{existing}-valid_from": valid_from,
                f"prices-{existing}-monthly_fee": "9.50",
                f"prices-{existing}-setup_fee": "0",
                f"prices-{existing}-unit_price": "0",
                f"prices-{existing}-vat_rate": "19",
                "conditions-TOTAL_FORMS": "1",
                "conditions-INITIAL_FORMS": "1",
                "conditions-MIN_NUM_FORMS": "0",
                "conditions-MAX_NUM_FORMS": "1000",
                "conditions-0-id": str(current_conditions(tracking).pk),  # type: ignore[union-attr]
                "conditions-0-product": str(tracking.pk),
            },
        )

    response = post("2020-01-01")
    assert response.status_code == 200  # the form again, with the error
    assert "past days keep their prices" in response.content.decode()
    assert ProductPrice.objects.filter(product=tracking).count() == 1
    later = timezone.localdate() + timedelta(days=3)
    response = post(later.isoformat())
    assert response.status_code == 302, response.content.decode()[:3000]
    assert price_on(tracking, later).monthly_fee == Decimal("9.50")  # type: ignore[union-attr]
    assert ProductPrice.objects.get(product=tracking, valid_from=later).created_by == world.olga
