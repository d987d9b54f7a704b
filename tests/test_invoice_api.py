"""``GET /api/v1/invoices`` and ``GET /api/v1/invoices/{number}.pdf``: the invoices of the
billing accounts in the key's subtree, for roles that may view invoices; foreign ones are 404."""

from __future__ import annotations

import facturx
import pytest
from django.test import Client

from billing_support import ADMIN, member
from invoice_support import account_for, cancellation_of, make_invoice
from pdf_text import pdf_text


@pytest.fixture
def invoices(world):  # type: ignore[no-untyped-def]
    """Agentur Alpha's account: an invoice and its cancellation; Kunde Eins has its own
    account with one invoice; Fremdagentur one too."""
    alpha = make_invoice(account_for(world.alpha, name="Agentur Alpha GmbH"))
    return {
        "alpha": alpha,
        "cancellation": cancellation_of(alpha),
        "kunde1": make_invoice(account_for(world.kunde1, name="Kunde Eins AG"), month="2026-02"),
        "fremd": make_invoice(account_for(world.fremd, name="Fremdagentur GmbH")),
    }


def get(raw: str, url: str, **params: object):  # type: ignore[no-untyped-def]
    return Client().get(url, params, HTTP_AUTHORIZATION=f"Bearer {raw}")


def numbers(response) -> list[str]:  # type: ignore[no-untyped-def]
    return [item["number"] for item in response.json()["items"]]


def test_the_partner_administrator_lists_its_subtree(world, invoices):
    admin = member(world, world.alpha, ADMIN, "chefin@alpha.example")
    raw = world.api_key(admin, world.alpha)
    response = get(raw, "/api/v1/invoices")
    assert response.status_code == 200
    data = response.json()
    assert data["total"] == 3 and data["page"] == 1
    assert set(numbers(response)) == {
        invoices["alpha"].number,
        invoices["cancellation"].number,
        invoices["kunde1"].number,
    }
    by_number = {item["number"]: item for item in data["items"]}
    original = by_number[invoices["alpha"].number]
    assert original == {
        "number": invoices["alpha"].number,
        "kind": "invoice",
        "issue_date": "2026-02-01",
        "period": {"start": "2026-01-01", "end": "2026-01-31"},
        "month": "2026-01",
        "account": {
            "id": invoices["alpha"].account_id,
            "name": "Agentur Alpha GmbH",
            "tenant_id": world.alpha.pk,
        },
        "currency": "EUR",
        "net_total": "55.02",
        "tax_total": "10.45",
        "gross_total": "65.47",
        "tax_breakdown": [{"rate": "19.00", "category": "S", "net": "55.02", "tax": "10.45"}],
        "reverse_charge": False,
        "refers_to": None,
        "emailed_at": None,
        "pdf_url": f"/api/v1/invoices/{invoices['alpha'].number}.pdf",
    }
    cancellation = by_number[invoices["cancellation"].number]
    assert cancellation["kind"] == "cancellation"
    assert cancellation["refers_to"] == invoices["alpha"].number
    assert cancellation["gross_total"] == "-65.47"
    # Narrowed to a tenant inside the subtree.
    only = get(raw, "/api/v1/invoices", tenant=world.kunde1.pk)
    assert numbers(only) == [invoices["kunde1"].number]
    # Paging.
    first = get(raw, "/api/v1/invoices", page_size=2)
    second = get(raw, "/api/v1/invoices", page_size=2, page=2)
    assert len(numbers(first)) == 2 and len(numbers(second)) == 1
    assert set(numbers(first)) | set(numbers(second)) == set(by_number)


def test_a_sub_tenants_administrator_sees_only_its_own_account(world, invoices):
    raw = world.api_key(world.carl, world.kunde1)
    assert numbers(get(raw, "/api/v1/invoices")) == [invoices["kunde1"].number]
    assert get(raw, "/api/v1/invoices", tenant=world.alpha.pk).status_code == 404
    assert get(raw, f"/api/v1/invoices/{invoices['alpha'].number}.pdf").status_code == 404


def test_the_pdf(world, invoices):
    raw = world.api_key(world.carl, world.kunde1)
    invoice = invoices["kunde1"]
    response = get(raw, f"/api/v1/invoices/{invoice.number}.pdf")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="{invoice.number}.pdf"'
    assert invoice.number in pdf_text(response.content)
    _name, xml = facturx.get_facturx_xml_from_pdf(response.content, check_xsd=True)
    assert facturx.xml_check_xsd(xml, flavor="factur-x", level="en16931")
    assert get(raw, "/api/v1/invoices/RE-2026-99999.pdf").status_code == 404


def test_foreign_keys_get_404(world, invoices):
    raw = world.api_key(world.eve, world.fremd)
    assert numbers(get(raw, "/api/v1/invoices")) == [invoices["fremd"].number]
    for tenant in (world.alpha, world.kunde1, world.filiale):
        response = get(raw, "/api/v1/invoices", tenant=tenant.pk)
        assert response.status_code == 404
        assert response.json() == {"detail": "Not found."}
    for key in ("alpha", "cancellation", "kunde1"):
        assert get(raw, f"/api/v1/invoices/{invoices[key].number}.pdf").status_code == 404


def test_roles_that_may_not_view_invoices_get_403(world, invoices):
    raw = world.api_key(world.paula, world.alpha)  # Customer Service
    response = get(raw, "/api/v1/invoices")
    assert response.status_code == 403
    assert "Administrators" in response.json()["detail"]
    assert get(raw, f"/api/v1/invoices/{invoices['kunde1'].number}.pdf").status_code == 403


def test_an_operators_key_sees_every_invoice_in_its_subtree(world, invoices):
    raw = world.api_key(world.olga, world.root)
    assert get(raw, "/api/v1/invoices").json()["total"] == 4
    response = get(raw, f"/api/v1/invoices/{invoices['fremd'].number}.pdf")
    assert response.status_code == 200


def test_bad_paging_is_422_and_a_session_is_not_enough(world, invoices):
    raw = world.api_key(world.carl, world.kunde1)
    response = get(raw, "/api/v1/invoices", page_size=0)
    assert response.status_code == 422
    assert "page_size" in response.json()["errors"]
    assert get(raw, "/api/v1/invoices", page=999).json()["page"] == 1  # clamped to the last
    client = world.client_for(world.carl)
    assert client.get("/api/v1/invoices").status_code == 401
    assert client.get(f"/api/v1/invoices/{invoices['kunde1'].number}.pdf").status_code == 401


def test_the_routes_are_in_the_openapi_description(world):
    schema = Client().get("/api/v1/openapi.json").json()
    assert "/api/v1/invoices" in schema["paths"]
    pdf = schema["paths"]["/api/v1/invoices/{number}.pdf"]["get"]
    assert "application/pdf" in pdf["responses"]["200"]["content"]
