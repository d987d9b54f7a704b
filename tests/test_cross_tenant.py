"""THE isolation test: every route of the project, aimed at another partner's tenants, is a 404.

Every URL pattern the project has is enumerated (``get_resolver()``, recursively, the ninja
API included). Each one is either

* mapped to probes in ``probes()`` below: concrete URLs that target objects of one tenant
  (slugs, tenant ids, API-key ids, …). An outsider (session or API key) must get 404 for GET
  and POST; a control user who may see the object must *not* get 404, so the 404 means
  "isolated" rather than "broken URL"; or
* listed in ``GLOBAL_ROUTES`` / ``GLOBAL_NAMESPACES`` with the reason it is not tenant-bound.

A new URL pattern that is in neither place fails ``test_every_route_is_probed_or_allowlisted``:
add a probe for it (and keep it isolated) before it ships.
"""

import io
import json
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import HttpResponse
from django.test import Client
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from django.urls import URLPattern, URLResolver, get_resolver, path, resolve
from django_scopes import scope, scopes_disabled
from PIL import Image

from invoice_support import account_for, make_invoice
from mandant.accounts.models import ApiKey, Invitation, Membership, User
from mandant.accounts.roles import Role
from mandant.accounts.services import apikey_create, membership_set, user_create
from mandant.campaigns.models import Campaign
from mandant.campaigns.services import campaign_create
from mandant.contacts.importing import upload_create
from mandant.contacts.models import Contact, ContactList, ImportFile, Segment, SignupForm
from mandant.contacts.services import (
    contact_create,
    list_create,
    segment_create,
    signup_form_create,
)
from mandant.content.assets import AssetUpload
from mandant.content.models import ContentItem, Folder
from mandant.content.services import folder_create, item_create, item_update
from mandant.core.actor import Actor
from mandant.invoicing.models import Invoice
from mandant.jobs.models import Job, JobKind
from mandant.notices.models import OutboundMessage, OutboxMessage
from mandant.sending.models import SenderIdentity, SendingDomain
from mandant.tenants.models import Tenant
from mandant.tenants.services import LogoUpload, tenant_set_logo

# Routes that are not bound to a tenant, with the reason. Keys are "namespace:name".
GLOBAL_ROUTES = {
    "accounts:start": "redirects to the user's own tenant(s); takes no tenant argument",
    "accounts:login": "sign-in form, before any tenant is known",
    "accounts:logout": "ends the session; no tenant argument",
    "accounts:language": "stores the user's language; no tenant argument",
    "accounts:my_tenants": "lists only the user's own memberships",
    "accounts:invitation": "acts only on the invitation its random token names (only its hash "
    "is stored); unknown tokens are a 404 (test_invitations.py)",
    "accounts:verify_email": "acts only on the user named by the signed link "
    "(test_initial_password.py::test_bad_expired_or_stale_confirmation_links)",
    # /account/: acts only on the logged-in user (no tenant, no user id in the URL) …
    "security:profile": "acts only on the logged-in user",
    "security:password_change": "acts only on the logged-in user",
    "security:email_change": "acts only on the logged-in user",
    "security:email_verify_send": "acts only on the logged-in user",
    "security:two_factor": "acts only on the logged-in user",
    "security:recovery_codes": "acts only on the logged-in user",
    "security:two_factor_disable": "acts only on the logged-in user",
    # … or on the user a signed link or the pending sign-in names; another user's id in the
    # link is a 404 (test_password_reset.py::test_another_users_id_with_my_token_is_404,
    # test_email_change.py::test_a_tampered_link_naming_another_user_is_404).
    "security:password_reset": "asks for an e-mail address; same answer for every address",
    "security:password_reset_confirm": "acts only on the user named by a valid reset token",
    "security:email_change_confirm": "acts only on the user named by the signed link",
    "security:login_code": "acts only on the user pending in this session's sign-in",
    "api:openapi-json": "public API description, no data",
    "api:openapi-view": "public API documentation page, no data",
    "api:api-root": "ninja's root placeholder: always 404",
    "inbound_bounces": "authenticated by the bounce secret, not tenant-scoped",
    "api:list_products": "the public price list (products and prices), the same for every "
    "key; no tenant data",
    "unsubscribe": "one-click unsubscribe (RFC 8058): acts only on the contact its signed token "
    "names; a tampered token is a 404 (test_unsubscribe.py::test_a_tampered_token_is_404)",
    # Campaign mail for its recipients (campaigns.public): no login, the signed token alone
    # names tenant, campaign and contact (or tenant, image and its bytes); a tampered token, a
    # token naming another tenant's image and a link of another campaign are 404
    # (test_campaign_tracking.py::test_tampered_tokens_and_foreign_links_are_404_never_a_redirect,
    # ::test_an_image_token_of_tenant_a_cannot_read_tenant_b).
    "campaign_open": "open pixel: records an open for the delivery its signed token names",
    "campaign_click": "click redirect: only to a URL stored for the campaign its token names",
    "campaign_image": "an image of the tenant its signed token names, only in that tenant",
    "campaign_webversion": "web version of the mail for the recipient its signed token names",
    "signup_form": "public sign-up page of one form, found by its random platform-unique key; "
    "creates only an unconfirmed contact of that form's tenant (test_contact_signup.py)",
    "signup_confirm": "double opt-in confirmation: acts only on the consent record its signed "
    "token names (tenant, contact, record); tampered tokens are a 400 "
    "(test_contact_signup.py::test_a_tampered_link_is_a_400_and_confirms_nothing)",
}
# Whole namespaces that are not tenant-bound, with the reason.
GLOBAL_NAMESPACES = {
    "admin": "Django admin: operators (is_staff) only; everyone else is sent to its login "
    "(checked in test_admin_is_closed_to_partners)",
}


@dataclass(frozen=True)
class Route:
    key: str  # "namespace:name", or "namespace:<route>" for unnamed patterns
    namespace: str
    route: str


def _walk(patterns: list, prefix: str, namespace: str) -> Iterator[Route]:  # type: ignore[type-arg]
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = namespace
            if pattern.namespace:
                inner = f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern), inner)
        elif isinstance(pattern, URLPattern):
            route = prefix + str(pattern.pattern)
            name = pattern.name or f"<{route}>"
            yield Route(
                key=f"{namespace}:{name}" if namespace else name, namespace=namespace, route=route
            )


def all_routes(urlconf: object = None) -> list[Route]:
    return list(_walk(get_resolver(urlconf).url_patterns, "", ""))


@dataclass(frozen=True)
class Probe:
    """One request aimed at the target tenant. ``control_url`` defaults to ``url``."""

    key: str
    url: str
    kind: str = "web"  # "web": session, GET and POST; "api": bearer key, ``method``
    method: str = "get"
    body: object = None
    control_url: str | None = None
    control: str = "paula"  # who must not get a 404 here
    files: dict = field(default_factory=dict, hash=False)  # type: ignore[type-arg]
    form: dict = field(default_factory=dict, hash=False)  # type: ignore[type-arg]
    # Web probes: the methods the view accepts (both are tried, as an outsider would).
    methods: tuple[str, ...] = ("get", "post")
    # API probes: the answers that show the control reached the object (a refused hand-over
    # answers 409 listing the unmet conditions).
    control_statuses: tuple[int, ...] = (200, 201)


def png_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 20), (0, 90, 200)).save(out, format="PNG")
    return out.getvalue()


@dataclass
class Stage:
    """The world plus what the probes point at: logos, API keys, an outbox message."""

    world: object
    keys: dict[int, ApiKey]  # tenant pk -> an API key of that tenant
    message: OutboundMessage
    kept: OutboxMessage  # campaign mail the outbox transport kept
    # tenant pk -> a user of that tenant (Viewer) for the web probes, another for the API ones,
    # and a third one the control removes through the second removal probe.
    members: dict[int, User] = field(default_factory=dict)
    api_members: dict[int, User] = field(default_factory=dict)
    spare_members: dict[int, User] = field(default_factory=dict)
    # tenant pk -> an image in its content library, and a Copy Content job started there.
    items: dict[int, ContentItem] = field(default_factory=dict)
    jobs: dict[int, Job] = field(default_factory=dict)
    # tenant pk -> a template with two versions and a folder, for the web pages.
    web_items: dict[int, ContentItem] = field(default_factory=dict)
    # …and another one the control deletes and restores through the second probe of each.
    spare_items: dict[int, ContentItem] = field(default_factory=dict)
    folders: dict[int, Folder] = field(default_factory=dict)
    # tenant pk -> an invoice of the tenant's own billing account (Setup → Billing, API).
    invoices: dict[int, Invoice] = field(default_factory=dict)
    # tenant pk -> a sending domain, and three sender identities on it (edited, two deleted).
    sending_domains: dict[int, SendingDomain] = field(default_factory=dict)
    identities: dict[int, list[SenderIdentity]] = field(default_factory=dict)


@pytest.fixture
def stage(world) -> Stage:  # type: ignore[no-untyped-def]
    paula = Actor(user=world.paula)
    keys = {}
    for tenant in (world.alpha, world.kunde1, world.filiale, world.kunde2):
        tenant_set_logo(
            actor=paula, tenant=tenant, logo=LogoUpload(data=png_bytes(), filename="logo.png")
        )
        keys[tenant.pk], _raw = apikey_create(actor=paula, tenant=tenant, name="target")
    message = OutboundMessage.objects.create(
        to_email="olga@mandant.example",
        kind="test",
        language="en",
        subject="CUSTOM tenant Kunde Zwei awaits configuration",
        text_body="…",
        html_body="<p>…</p>",
    )
    kept = OutboxMessage.objects.create(
        from_email="news@kunde-zwei.example", to="x@example.org", subject="Kampagne", raw=b""
    )
    members, api_members, spare_members = {}, {}, {}
    olga = Actor(user=world.olga)
    for tenant in (world.alpha, world.kunde1, world.filiale, world.kunde2):
        for group, prefix in (
            (members, "probe"),
            (api_members, "probe-api"),
            (spare_members, "probe-spare"),
        ):
            user = user_create(email=f"{prefix}@{tenant.slug}.example", password="x" * 20)
            membership_set(actor=olga, tenant=tenant, user=user, role=Role.VIEWER)
            group[tenant.pk] = user
    items, jobs, web_items, spare_items, folders = {}, {}, {}, {}, {}
    for tenant in (world.alpha, world.kunde1, world.filiale, world.kunde2):
        with scope(tenant=tenant.pk):
            # An image: every item route, the file replacement included, applies to it.
            items[tenant.pk] = item_create(
                actor=paula,
                tenant=tenant,
                kind="asset",
                name=f"Bild {tenant.name}",
                asset=AssetUpload(data=png_bytes(), filename="bild.png"),
            )
            jobs[tenant.pk] = Job.objects.create(
                tenant=tenant, kind=JobKind.COPY_CONTENT, created_by=world.paula
            )
        folders[tenant.pk] = folder_create(actor=paula, tenant=tenant, name=f"Ordner {tenant.pk}")
        template = item_create(
            actor=paula,
            tenant=tenant,
            kind="template",
            name=f"Vorlage {tenant.name}",
            subject="Hallo",
            html="<p>Hallo {{ contact.first_name }}</p>",
        )
        web_items[tenant.pk] = item_update(
            actor=paula, tenant=tenant, item=template, subject="Hallo, zweite Fassung"
        )
        spare_items[tenant.pk] = item_create(
            actor=paula, tenant=tenant, kind="text_block", name=f"Reserve {tenant.name}", text="x"
        )
    return Stage(
        world=world,
        keys=keys,
        message=message,
        kept=kept,
        members=members,
        api_members=api_members,
        spare_members=spare_members,
        items=items,
        jobs=jobs,
        web_items=web_items,
        spare_items=spare_items,
        folders=folders,
        invoices={
            tenant.pk: make_invoice(account_for(tenant))
            for tenant in (world.alpha, world.kunde1, world.filiale, world.kunde2)
        },
        **_sending_stage(world),
    )


def _sending_stage(world) -> dict[str, dict]:  # type: ignore[no-untyped-def,type-arg]
    """A sending domain (placeholder key: the probes never sign) and identities per tenant."""
    domains, identities = {}, {}
    for tenant in (world.alpha, world.kunde1, world.filiale, world.kunde2):
        with scope(tenant=tenant.pk):
            domain = SendingDomain.objects.create(
                tenant=tenant,
                domain=f"{tenant.slug}.example",
                dkim_selector="probe",
                dkim_private_key_pem="-",
                dkim_public_key="AAAA",
            )
            domains[tenant.pk] = domain
            identities[tenant.pk] = [
                SenderIdentity.objects.create(
                    tenant=tenant, domain=domain, from_address=f"{box}@{domain.domain}", alias="P"
                )
                for box in ("news", "spare1", "spare2")
            ]
    return {"sending_domains": domains, "identities": identities}


@pytest.fixture(autouse=True)
def _no_public_dns(settings):  # type: ignore[no-untyped-def]
    # The controls press "Check DNS now": ask a closed loopback port, not the internet.
    settings.SENDING_DNS_NAMESERVERS = ["127.0.0.1:9"]
    settings.SENDING_DNS_TIMEOUT = 0.2


def contacts_stage(target: Tenant, user: User) -> dict[str, int]:
    """A contact, list, two segments, a kept CSV upload and an import job of ``target``
    (made once, on demand)."""
    with scope(tenant=target.pk):
        contact = Contact.objects.filter(tenant=target, email="probe@contacts.example").first()
        if contact is None:
            contact = contact_create(actor=None, tenant=target, email="probe@contacts.example")
        contact_list = ContactList.objects.filter(tenant=target).first() or list_create(
            actor=None, tenant=target, name="Probe"
        )
        segments = {}
        # The control deletes seg1 and seg2 through the delete probes; seg3 is the one shown.
        for name in ("seg1", "seg2", "seg3"):
            segments[name] = Segment.objects.filter(tenant=target, name=name).first() or (
                segment_create(actor=None, tenant=target, name=name, rules={"conditions": []})
            )
        upload = ImportFile.objects.filter(tenant=target).first() or upload_create(
            tenant=target, name="probe.csv", data=b"email\nprobe@contacts.example\n"
        )
        job = Job.objects.filter(tenant=target, kind=JobKind.CONTACT_IMPORT).first()
        if job is None:
            job = Job.objects.create(tenant=target, kind=JobKind.CONTACT_IMPORT, created_by=user)
        signup_form = SignupForm.objects.filter(tenant=target).first() or signup_form_create(
            actor=None,
            tenant=target,
            name="Probe",
            contact_list=contact_list,
            consent_text="Probe",
            languages=["en"],
        )
    return {
        "signup_form": signup_form.pk,
        "contact": contact.pk,
        "list": contact_list.pk,
        "seg1": segments["seg1"].pk,
        "seg2": segments["seg2"].pk,
        "seg3": segments["seg3"].pk,
        "upload": upload.pk,
        "job": job.pk,
    }


def probes(stage: Stage, target: Tenant, home: Tenant) -> dict[str, list[Probe]]:
    """Probes aimed at ``target``, made by an outsider whose own tenant is ``home``."""
    t, h = target.slug, home.slug
    key = stage.keys[target.pk]
    key_slug = key.tenant.slug
    new_slug = target.slug  # a tenant the control user reaches: the target itself
    m = stage.members[target.pk].pk  # a user of the target (web probes)
    am = stage.api_members[target.pk].pk  # another one (API probes)
    sm = stage.spare_members[target.pk].pk  # removed by the control of the second removal
    item = stage.items[target.pk].pk  # an image of the target (API content probes)
    image, image_key = item, stage.items[target.pk].key
    wi = stage.web_items[target.pk].pk  # a template with two versions (web content probes)
    spare = stage.spare_items[target.pk].pk
    on_spare = {"delete": spare, "restore": spare}
    wf = stage.folders[target.pk].pk
    job = stage.jobs[target.pk].pk
    rename = {"action": "rename", "name": "Umbenannt"}
    content = f"/api/v1/tenants/{target.pk}/content"
    user_url = f"/t/{t}/setup/users/{m}/"
    number = stage.invoices[target.pk].number  # an invoice of the target's own account
    return {
        # /t/<slug>/…
        "tenants:home": [Probe("tenants:home", f"/t/{t}/")],
        "tenants:enter": [Probe("tenants:enter", f"/t/{t}/enter/")],
        "tenants:logo": [Probe("tenants:logo", f"/t/{t}/logo.png")],
        "tenants:setup": [Probe("tenants:setup", f"/t/{t}/setup/")],
        "tenants:setup_users": [Probe("tenants:setup_users", f"/t/{t}/setup/users/")],
        "tenants:settings": [Probe("tenants:settings", f"/t/{t}/setup/tenant/")],
        "tenants:setup_upgrades": [Probe("tenants:setup_upgrades", f"/t/{t}/setup/upgrades/")],
        "tenants:tenant_management": [
            Probe("tenants:tenant_management", f"/t/{t}/setup/upgrades/tenants/"),
            Probe(
                "tenants:tenant_management",
                f"/t/{t}/setup/upgrades/tenants/?parent={target.pk}&page=2",
            ),
        ],
        "tenants:tenant_created": [
            Probe("tenants:tenant_created", f"/t/{t}/setup/upgrades/tenants/created/{new_slug}/"),
            # The outsider's own tenant in the path, the target's tenant as the new one.
            Probe(
                "tenants:tenant_created",
                f"/t/{h}/setup/upgrades/tenants/created/{new_slug}/",
                control_url=f"/t/{t}/setup/upgrades/tenants/created/{new_slug}/",
            ),
        ],
        "accounts:setup_api_keys": [
            Probe("accounts:setup_api_keys", f"/t/{t}/setup/api-keys/"),
        ],
        # Setup → Users and the hand-over. Each user action also with the outsider's own
        # tenant in the path and the target's user id (POST only: on the own tenant a GET is
        # refused with 405 before any lookup, the same for every id, so it reveals nothing).
        # Removal comes last: the control user really performs these actions.
        "tenants:handover": [Probe("tenants:handover", f"/t/{t}/handover/")],
        "tenants:user_invite": [
            Probe(
                "tenants:user_invite",
                f"/t/{t}/setup/users/invite/",
                form={"email": f"invited@{t}.example", "language": "en", "role": "400"},
            ),
        ],
        "tenants:create_administrator": [
            Probe(
                "tenants:create_administrator",
                f"/t/{t}/setup/users/administrator/",
                form={"email": f"admin@{t}.example", "language": "en", "method": "invitation"},
            ),
        ],
        "tenants:user_added": [
            Probe("tenants:user_added", user_url + "added/?outcome=invited"),
            Probe(
                "tenants:user_added",
                f"/t/{h}/setup/users/{m}/added/",
                control_url=user_url + "added/",
            ),
        ],
        **{
            f"tenants:user_{action}": [
                Probe(f"tenants:user_{action}", user_url + f"{action}/", form=form),
                Probe(
                    f"tenants:user_{action}",
                    f"/t/{h}/setup/users/{who}/{action}/",
                    control_url=f"/t/{t}/setup/users/{who}/{action}/",
                    form=form,
                    methods=("post",),
                ),
            ]
            for action, form, who in (
                ("role", {"role": "400"}, m),
                ("deactivate", {}, m),
                ("reactivate", {}, m),
                ("resend", {}, m),
                ("remove", {}, sm),
            )
        },
        "accounts:revoke_api_key": [
            Probe("accounts:revoke_api_key", f"/t/{key_slug}/setup/api-keys/{key.pk}/revoke/"),
            # The outsider's own tenant in the path, the target's key id.
            # (POST only: on the outsider's own tenant a GET is refused with 405 before any
            # lookup, the same for every key id, so it reveals nothing.)
            Probe(
                "accounts:revoke_api_key",
                f"/t/{h}/setup/api-keys/{key.pk}/revoke/",
                control_url=f"/t/{key_slug}/setup/api-keys/{key.pk}/revoke/",
                methods=("post",),
            ),
        ],
        # Operator pages: staff only, 404 for everyone else, whatever the target.
        "operator:dashboard": [Probe("operator:dashboard", "/operator/", control="olga")],
        "operator:mark_configured": [
            Probe(
                "operator:mark_configured",
                f"/operator/tenants/{target.pk}/configured/",
                control="olga",
            ),
        ],
        "operator:set_management": [
            Probe(
                "operator:set_management",
                f"/operator/tenants/{target.pk}/management/",
                control="olga",
                form={"active": "1"},
            ),
        ],
        "operator:outbox": [Probe("operator:outbox", "/operator/outbox/", control="olga")],
        "operator:outbox_detail": [
            Probe(
                "operator:outbox_detail", f"/operator/outbox/{stage.message.pk}/", control="olga"
            ),
        ],
        "operator:outbox_kept": [
            Probe(
                "operator:outbox_kept", f"/operator/outbox/kept/{stage.kept.pk}/", control="olga"
            ),
        ],
        "operator:notices": [Probe("operator:notices", "/operator/notices/", control="olga")],
        "operator:notice_new": [
            Probe(
                "operator:notice_new",
                "/operator/notices/new/",
                control="olga",
                form={
                    "kind": "outage",
                    "severity": "critical",
                    "scope": target.slug,
                    "title_en": f"Outage at {target.name}",
                    "title_de": "Störung",
                    "body_en": "Sending is delayed.",
                    "body_de": "Der Versand verzögert sich.",
                    "starts_at": "2020-01-01T00:00",
                    "ends_at": "2999-01-01T00:00",
                },
            ),
        ],
        # The API, with the outsider's key.
        "api:list_tenants": [
            Probe("api:list_tenants", f"/api/v1/tenants?parent={target.pk}", kind="api"),
        ],
        "api:create_tenant": [
            Probe(
                "api:create_tenant",
                "/api/v1/tenants",
                kind="api",
                method="post",
                body={"name": f"Unter {target.name}", "master_id": target.pk},
            ),
        ],
        "api:get_tenant": [
            Probe("api:get_tenant", f"/api/v1/tenants/{target.pk}", kind="api"),
        ],
        "api:patch_tenant": [
            Probe(
                "api:patch_tenant",
                f"/api/v1/tenants/{target.pk}",
                kind="api",
                method="patch",
                body={"version": "ENTERPRISE"},
            ),
        ],
        "api:put_logo": [
            Probe(
                "api:put_logo",
                f"/api/v1/tenants/{target.pk}/logo",
                kind="api",
                method="put",
                files={"logo": png_bytes()},
            ),
        ],
        # Users of a tenant: the control is an operator's key (Customer Service may not manage
        # the users of its own tenant, Agentur Alpha). The outsider's own tenant with the
        # target's user id is a 404 too.
        "api:list_users": [
            Probe(
                "api:list_users", f"/api/v1/tenants/{target.pk}/users", kind="api", control="olga"
            ),
        ],
        "api:add_user": [
            Probe(
                "api:add_user",
                f"/api/v1/tenants/{target.pk}/users",
                kind="api",
                method="post",
                control="olga",
                body={"email": f"api-invited@{t}.example", "role": 400},
            ),
        ],
        "api:add_administrator": [
            Probe(
                "api:add_administrator",
                f"/api/v1/tenants/{target.pk}/administrators",
                kind="api",
                method="post",
                control="olga",
                body={"email": f"api-admin@{t}.example"},
            ),
        ],
        "api:patch_user": [
            Probe(
                "api:patch_user",
                f"/api/v1/tenants/{target.pk}/users/{am}",
                kind="api",
                method="patch",
                control="olga",
                body={"role": 400},
            ),
            Probe(
                "api:patch_user",
                f"/api/v1/tenants/{home.pk}/users/{am}",
                kind="api",
                method="patch",
                control="olga",
                body={"role": 400},
                control_url=f"/api/v1/tenants/{target.pk}/users/{am}",
            ),
        ],
        "api:resend": [
            Probe(
                "api:resend",
                f"/api/v1/tenants/{target.pk}/users/{am}/resend",
                kind="api",
                method="post",
                control="olga",
            ),
            Probe(
                "api:resend",
                f"/api/v1/tenants/{home.pk}/users/{am}/resend",
                kind="api",
                method="post",
                control="olga",
                control_url=f"/api/v1/tenants/{target.pk}/users/{am}/resend",
            ),
        ],
        "api:handover": [
            Probe(
                "api:handover",
                f"/api/v1/tenants/{target.pk}/handover",
                kind="api",
                method="post",
                control="olga",
                control_statuses=(200, 409),
            ),
        ],
        "api:delete_user": [
            Probe(
                "api:delete_user",
                f"/api/v1/tenants/{home.pk}/users/{am}",
                kind="api",
                method="delete",
                control="olga",
                control_statuses=(204,),
                control_url=f"/api/v1/tenants/{target.pk}/users/{am}",
            ),
            Probe(
                "api:delete_user",
                f"/api/v1/tenants/{target.pk}/users/{am}",
                kind="api",
                method="delete",
                control="olga",
                control_statuses=(204, 404),
            ),
        ],
        # The content library pages. Item, folder and job routes also with the outsider's
        # own tenant in the path and the target's id (POST only where a GET is refused the
        # same way for every id). Deleting comes before restoring: the control really does both.
        "content:library": [
            Probe("content:library", f"/t/{t}/content/"),
            Probe("content:library", f"/t/{t}/content/?folder={wf}&kind=template&q=Vorlage"),
        ],
        "content:item_new": [
            Probe(
                "content:item_new",
                f"/t/{t}/content/new/text_block/",
                form={"name": f"Untergeschoben {t}", "html": "<p>x</p>"},
            ),
        ],
        "content:bin": [Probe("content:bin", f"/t/{t}/content/bin/")],
        "content:folder_new": [
            Probe(
                "content:folder_new",
                f"/t/{t}/content/folders/new/",
                form={"name": f"Untergeschoben {t}"},
            ),
        ],
        "content:folder": [
            Probe("content:folder", f"/t/{t}/content/folders/{wf}/", form=rename),
            Probe(
                "content:folder",
                f"/t/{h}/content/folders/{wf}/",
                control_url=f"/t/{t}/content/folders/{wf}/",
                form=rename,
            ),
        ],
        "content:asset_file": [
            Probe("content:asset_file", f"/t/{t}/content/assets/{image_key}/", methods=("get",)),
            Probe(
                "content:asset_file",
                f"/t/{h}/content/assets/{image_key}/",
                control_url=f"/t/{t}/content/assets/{image_key}/",
                methods=("get",),
            ),
        ],
        **{
            f"content:{name}": [
                Probe(f"content:{name}", f"/t/{t}/content/{obj}/{suffix}", methods=methods),
                Probe(
                    f"content:{name}",
                    f"/t/{h}/content/{obj}/{suffix}",
                    # Deleting and restoring: the control acts on the spare item here.
                    control_url=f"/t/{t}/content/{on_spare.get(name, obj)}/{suffix}",
                    methods=methods,
                ),
            ]
            for name, obj, suffix, methods in (
                ("item", wi, "", ("get", "post")),
                ("preview", wi, "preview/", ("get",)),
                ("render", wi, "render/", ("get",)),
                ("image", image, "image/", ("get",)),
                ("history", wi, "history/", ("get",)),
                ("version", wi, "history/1/", ("get",)),
                ("version_restore", wi, "history/1/restore/", ("post",)),
                ("duplicate", wi, "duplicate/", ("post",)),
                ("pull", wi, "pull/", ("post",)),
                ("delete", wi, "delete/", ("post",)),
                ("restore", wi, "restore/", ("post",)),
                ("job", f"jobs/{job}", "", ("get",)),
                ("job_status", f"jobs/{job}", "status/", ("get",)),
                # Not stalled: the control is sent back to the job page with the reason.
                ("job_restart", f"jobs/{job}", "restart/", ("post",)),
            )
        },
        "content:copy": [
            Probe(
                "content:copy",
                f"/t/{t}/content/copy/?items={wi}",
                form={"items": [wi], "scope": "all", "policy": "overwrite"},
            ),
        ],
        "content:jobs": [Probe("content:jobs", f"/t/{t}/content/jobs/")],
        # The content library and Copy Content. Item routes also with the outsider's own
        # tenant in the path and the target's item id. The deletion comes last: the control
        # really moves the item to the bin.
        "api:list_content": [
            Probe("api:list_content", content, kind="api"),
            Probe("api:list_content", f"{content}?q=Bild&kind=asset", kind="api"),
        ],
        "api:create_content": [
            Probe(
                "api:create_content",
                content,
                kind="api",
                method="post",
                body={"kind": "text_block", "name": f"Untergeschoben {t}", "html": "<p>x</p>"},
            ),
        ],
        "api:create_asset": [
            Probe(
                "api:create_asset",
                f"{content}/assets",
                kind="api",
                method="post",
                files={"file": png_bytes()},
            ),
        ],
        **{
            key: [
                Probe(key, f"{content}/{item}{suffix}", kind="api", method=method, **extra),
                Probe(
                    key,
                    f"/api/v1/tenants/{home.pk}/content/{item}{suffix}",
                    kind="api",
                    method=method,
                    control_url=f"{content}/{item}{suffix}",
                    **extra,
                ),
            ]
            for key, method, suffix, extra in (
                ("api:get_content", "get", "", {}),
                ("api:patch_content", "patch", "", {"body": {"name": "Gekapert"}}),
                ("api:put_content_file", "put", "/file", {"files": {"file": png_bytes()}}),
            )
        },
        "api:copy_content": [
            Probe(
                "api:copy_content",
                f"/api/v1/tenants/{target.pk}/copy-content",
                kind="api",
                method="post",
                body={"items": [item], "all_descendants": True, "policy": "overwrite"},
                # Started (202), or refused for a reason of the tenant itself: no sub-tenants
                # (422 on "targets") or an edition without Copy Content (403 naming the
                # product). Earlier control probes change both, so any of the three shows the
                # route reached the tenant; a foreign tenant is a 404 before any of them.
                control_statuses=(202, 403, 422),
            ),
        ],
        "api:get_job": [
            Probe("api:get_job", f"/api/v1/jobs/{stage.jobs[target.pk].pk}", kind="api"),
        ],
        # The job is not stalled: the control's answer is the 409 that says so.
        "api:restart_job": [
            Probe(
                "api:restart_job",
                f"/api/v1/jobs/{stage.jobs[target.pk].pk}/restart",
                kind="api",
                method="post",
                control_statuses=(409,),
            ),
        ],
        "api:delete_content": [
            Probe(
                "api:delete_content",
                f"/api/v1/tenants/{home.pk}/content/{item}",
                kind="api",
                method="delete",
                control_statuses=(204,),
                control_url=f"{content}/{item}",
            ),
            Probe(
                "api:delete_content",
                f"{content}/{item}",
                kind="api",
                method="delete",
                control_statuses=(204, 404),
            ),
        ],
        # Setup → Upgrades (billing): the confirmation and deactivation pages. The product
        # key is global; the tenant is in the path. paula (Customer Service) may read them
        # and is refused (403) the activation itself.
        "billing:upgrade_activate": [
            Probe(
                "billing:upgrade_activate",
                f"/t/{t}/setup/upgrades/tracking/activate/",
                form={"conditions_version": "1", "accept": "on"},
            ),
        ],
        "billing:upgrade_deactivate": [
            Probe("billing:upgrade_deactivate", f"/t/{t}/setup/upgrades/tracking/deactivate/"),
        ],
        # The price list: operator pages (404 for everyone else, whatever the target).
        "billing_operator:price_list": [
            Probe("billing_operator:price_list", "/operator/billing/products/", control="olga"),
        ],
        "billing_operator:product": [
            Probe(
                "billing_operator:product",
                "/operator/billing/products/tracking/",
                control="olga",
                form={"form": "conditions", "text_en": f"For {target.name}", "text_de": "…"},
            ),
        ],
        # A tenant's upgrades. The control is an operator's key (paula's Customer Service may
        # not activate tracking); the deactivation comes after the activation.
        "api:list_upgrades": [
            Probe("api:list_upgrades", f"/api/v1/tenants/{target.pk}/upgrades", kind="api"),
        ],
        "api:activate_upgrade": [
            Probe(
                "api:activate_upgrade",
                f"/api/v1/tenants/{target.pk}/upgrades",
                kind="api",
                method="post",
                body={"product": "tracking", "accepted_conditions_version": 1},
                control="olga",
                control_statuses=(201, 409),  # 409: included in PROFESSIONAL/ENTERPRISE
            ),
        ],
        "api:deactivate_upgrade": [
            Probe(
                "api:deactivate_upgrade",
                f"/api/v1/tenants/{target.pk}/upgrades/tracking",
                kind="api",
                method="delete",
                control="olga",
                control_statuses=(202, 409),  # 409: not active there
            ),
        ],
        # Setup → Billing and the invoice PDFs (Administrators; the control is an operator).
        # The PDF also with the outsider's own tenant in the path and the target's number
        # (GET only: the route answers nothing else, 405 before any lookup).
        "invoicing:billing": [
            Probe("invoicing:billing", f"/t/{t}/setup/billing/", control="olga"),
        ],
        "invoicing:invoice_pdf": [
            Probe("invoicing:invoice_pdf", f"/t/{t}/setup/billing/{number}.pdf", control="olga"),
            Probe(
                "invoicing:invoice_pdf",
                f"/t/{h}/setup/billing/{number}.pdf",
                control_url=f"/t/{t}/setup/billing/{number}.pdf",
                control="olga",
                methods=("get",),
            ),
        ],
        # The operators' invoice list and run (a bad month: the control runs nothing).
        "invoicing_operator:invoices": [
            Probe(
                "invoicing_operator:invoices",
                "/operator/invoices/",
                control="olga",
                form={"month": "not-a-month"},
            ),
        ],
        "api:list_invoices": [
            Probe(
                "api:list_invoices",
                f"/api/v1/invoices?tenant={target.pk}",
                kind="api",
                control="olga",
            ),
        ],
        "api:invoice_pdf": [
            Probe("api:invoice_pdf", f"/api/v1/invoices/{number}.pdf", kind="api", control="olga"),
        ],
        **sending_probes(stage, target, home),
        **contacts_probes(stage, target, home),
        **campaigns_probes(stage, target, home),
    }


def sending_probes(stage: Stage, target: Tenant, home: Tenant) -> dict[str, list[Probe]]:
    """Setup → Sending and its API. The controls are operators (Administrator actions); forms
    the controls submit are empty (422) unless the probe is about the object itself. Each
    action on an id also with the outsider's own tenant in the path (POST only, as above)."""
    t, h = target.slug, home.slug
    base, own = f"/t/{t}/setup/sending/", f"/t/{h}/setup/sending/"
    d = stage.sending_domains[target.pk].pk
    main, spare1, spare2 = (identity.pk for identity in stage.identities[target.pk])
    api = f"/api/v1/tenants/{target.pk}"

    def on_id(key: str, suffix: str, control_suffix: str | None = None, **kw) -> list[Probe]:  # type: ignore[no-untyped-def]
        return [
            Probe(key, base + suffix, control="olga", **kw),
            Probe(
                key,
                own + suffix,
                control_url=base + (control_suffix or suffix),
                control="olga",
                methods=("post",),
                **kw,
            ),
        ]

    return {
        "sending:setup": [Probe("sending:setup", base)],
        "sending:domain_add": [Probe("sending:domain_add", base + "domains/", control="olga")],
        "sending:domain_check": on_id("sending:domain_check", f"domains/{d}/check/"),
        # Refused (403) for a non-operator before any lookup, whatever the id: target path only.
        "sending:domain_verify_without_dns": [
            Probe(
                "sending:domain_verify_without_dns",
                base + f"domains/{d}/verify-without-dns/",
                control="olga",
            )
        ],
        # The domain has identities: the control's removal is refused (409), nothing removed.
        "sending:domain_remove": on_id("sending:domain_remove", f"domains/{d}/remove/"),
        "sending:identity_create": [
            Probe("sending:identity_create", base + "identities/", control="olga")
        ],
        "sending:identity_edit": on_id("sending:identity_edit", f"identities/{main}/"),
        # The controls really delete: one spare identity each.
        "sending:identity_delete": on_id(
            "sending:identity_delete",
            f"identities/{spare1}/delete/",
            control_suffix=f"identities/{spare2}/delete/",
        ),
        "sending:postal_address": [
            Probe("sending:postal_address", base + "postal-address/", control="olga")
        ],
        "api:readiness": [Probe("api:readiness", f"{api}/readiness", kind="api")],
        "api:list_sending_domains": [
            Probe("api:list_sending_domains", f"{api}/sending-domains", kind="api")
        ],
        "api:add_sending_domain": [
            Probe(
                "api:add_sending_domain",
                f"{api}/sending-domains",
                kind="api",
                method="post",
                body={"domain": ""},
                control="olga",
                control_statuses=(422,),
            )
        ],
        "api:check_sending_domain": [
            Probe(
                "api:check_sending_domain",
                f"{api}/sending-domains/{d}/check",
                kind="api",
                method="post",
                control="olga",
            ),
            # The outsider's own tenant id, the target's domain id.
            Probe(
                "api:check_sending_domain",
                f"/api/v1/tenants/{home.pk}/sending-domains/{d}/check",
                kind="api",
                method="post",
                control="olga",
                control_url=f"{api}/sending-domains/{d}/check",
            ),
        ],
    }


def campaigns_stage(target: Tenant, user: User) -> dict[str, int]:
    """A campaign of ``target`` and two spare ones the control deletes (made once, on demand)."""
    ids = {}
    with scope(tenant=target.pk):
        for name in ("probe", "spare1", "spare2"):
            row = Campaign.objects.filter(tenant=target, name=name).first() or campaign_create(
                actor=Actor(user=user), tenant=target, name=name
            )
            ids[name] = row.pk
    return ids


def campaigns_probes(stage: Stage, target: Tenant, home: Tenant) -> dict[str, list[Probe]]:
    """Campaign pages and API: the target's campaign, also asked for with the outsider's own
    tenant in the path."""
    ids = campaigns_stage(target, stage.world.paula)  # type: ignore[attr-defined]
    c = ids["probe"]
    t, h = target.slug, home.slug
    base = f"/t/{t}/campaigns/"
    api = f"/api/v1/tenants/{target.pk}/campaigns"

    def on_id(
        key: str,
        suffix: str,
        own: tuple[str, ...] = ("get",),
        methods: tuple[str, ...] = ("get", "post"),
        **kw: object,
    ) -> list[Probe]:
        # GET-only pages answer a POST with 405 before any lookup: GET only on the own tenant.
        return [
            Probe(key, base + suffix, methods=methods, **kw),  # type: ignore[arg-type]
            Probe(
                key,
                f"/t/{h}/campaigns/" + suffix,
                control_url=base + suffix,
                methods=own,
                **kw,  # type: ignore[arg-type]
            ),
        ]

    return {
        "campaigns:list": [Probe("campaigns:list", base, methods=("get",))],
        "campaigns:new": [
            Probe("campaigns:new", base + "new/", form={"start": "blank", "name": ""})
        ],
        "campaigns:edit": on_id("campaigns:edit", f"{c}/", own=("get", "post"), form={"name": ""}),
        "campaigns:checklist": on_id("campaigns:checklist", f"{c}/checklist/", methods=("get",)),
        "campaigns:preview": on_id("campaigns:preview", f"{c}/preview/", methods=("get",)),
        "campaigns:render": on_id("campaigns:render", f"{c}/render/", methods=("get",)),
        "campaigns:test_send": on_id(
            "campaigns:test_send",
            f"{c}/test-send/",
            own=("post",),
            methods=("post",),
            form={"to_email": "probe@example.org"},
        ),
        "campaigns:progress": on_id("campaigns:progress", f"{c}/progress/", methods=("get",)),
        # The probe campaign is an incomplete draft: the control's send, pause, resume, cancel
        # and unschedule are refused with a message (302), never a 404.
        **{
            f"campaigns:{action}": on_id(
                f"campaigns:{action}", f"{c}/{action}/", own=("post",), methods=("post",)
            )
            for action in ("send", "pause", "resume", "cancel", "unschedule")
        },
        # The control's empty time is a field error (422), never a 404.
        "campaigns:schedule": on_id(
            "campaigns:schedule",
            f"{c}/schedule/",
            own=("post",),
            methods=("post",),
            form={"at": ""},
        ),
        "campaigns:delete": [
            Probe("campaigns:delete", base + f"{ids['spare1']}/delete/", methods=("post",)),
            Probe(
                "campaigns:delete",
                f"/t/{h}/campaigns/{ids['spare2']}/delete/",
                control_url=base + f"{ids['spare2']}/delete/",
                methods=("post",),
            ),
        ],
        "api:list_campaigns": [Probe("api:list_campaigns", api, kind="api")],
        "api:create_campaign": [
            Probe(
                "api:create_campaign",
                api,
                kind="api",
                method="post",
                body={"name": ""},
                control_statuses=(422,),
            )
        ],
        "api:get_campaign": [
            Probe("api:get_campaign", f"{api}/{c}", kind="api"),
            Probe(
                "api:get_campaign",
                f"/api/v1/tenants/{home.pk}/campaigns/{c}",
                kind="api",
                control_url=f"{api}/{c}",
            ),
        ],
        # The probe campaign is a draft with an unmet checklist: the control's send is answered
        # 409 with the items, and no other sending control is allowed for a draft (409).
        **{
            f"api:{action}_campaign": [
                Probe(
                    f"api:{action}_campaign",
                    f"{api}/{c}/{action}",
                    kind="api",
                    method="post",
                    body={},
                    control_statuses=(409,),
                ),
                Probe(
                    f"api:{action}_campaign",
                    f"/api/v1/tenants/{home.pk}/campaigns/{c}/{action}",
                    kind="api",
                    method="post",
                    body={},
                    control_url=f"{api}/{c}/{action}",
                    control_statuses=(409,),
                ),
            ]
            for action in ("send", "pause", "resume", "cancel", "unschedule")
        },
        # The same path as api:get_campaign; ninja names each operation.
        "api:update_campaign": [
            Probe(
                "api:update_campaign",
                f"{api}/{c}",
                kind="api",
                method="patch",
                body={"name": ""},
                control_statuses=(422,),
            ),
            Probe(
                "api:update_campaign",
                f"/api/v1/tenants/{home.pk}/campaigns/{c}",
                kind="api",
                method="patch",
                body={"name": ""},
                control_url=f"{api}/{c}",
                control_statuses=(422,),
            ),
        ],
    }


def contacts_probes(stage: Stage, target: Tenant, home: Tenant) -> dict[str, list[Probe]]:
    """Contacts pages and API: the target's contact, CSV upload and import job, also asked for
    with the outsider's own tenant in the path."""
    ids = contacts_stage(target, stage.world.paula)  # type: ignore[attr-defined]
    contact, upload, job, cl = ids["contact"], ids["upload"], ids["job"], ids["list"]
    t, h = target.slug, home.slug
    base = f"/t/{t}/contacts/"
    api = f"/api/v1/tenants/{target.pk}"

    def on_id(key: str, suffix: str, own: tuple[str, ...] = ("get",), **kw: object) -> list[Probe]:
        # On the outsider's own tenant a POST to a GET-only page is refused with 405 before any
        # lookup, the same for every id, so it reveals nothing: GET only there.
        return [
            Probe(key, base + suffix, **kw),  # type: ignore[arg-type]
            Probe(
                key,
                f"/t/{h}/contacts/" + suffix,
                control_url=base + suffix,
                methods=own,
                **kw,  # type: ignore[arg-type]
            ),
        ]

    return {
        "contacts:list": [Probe("contacts:list", base + "?q=probe&status=active")],
        "contacts:export": [Probe("contacts:export", base + "export.csv")],
        "contacts:import": [Probe("contacts:import", base + "import/")],
        "contacts:import_mapping": on_id(
            "contacts:import_mapping",
            f"import/{upload}/",
            own=("get", "post"),
            form={"action": "dry_run"},
        ),
        "contacts:job": on_id("contacts:job", f"jobs/{job}/"),
        "contacts:new": [Probe("contacts:new", base + "new/", form={"email": ""})],
        "contacts:detail": on_id(
            "contacts:detail", f"{contact}/", own=("get", "post"), form={"email": ""}
        ),
        "contacts:lists": [Probe("contacts:lists", base + "lists/", form={"name": ""})],
        "contacts:list_detail": on_id(
            "contacts:list_detail", f"lists/{cl}/", own=("get", "post"), form={"email": ""}
        ),
        "contacts:segments": [Probe("contacts:segments", base + "segments/", form={"name": ""})],
        # The control posts an empty name: refused (422), nothing changed.
        "contacts:segment_edit": on_id(
            "contacts:segment_edit",
            f"segments/{ids['seg3']}/",
            own=("get", "post"),
            form={"name": ""},
        ),
        "contacts:segment_delete": [
            Probe(
                "contacts:segment_delete",
                base + f"segments/{ids['seg1']}/delete/",
                methods=("post",),
            ),
            Probe(
                "contacts:segment_delete",
                f"/t/{h}/contacts/segments/{ids['seg2']}/delete/",
                control_url=base + f"segments/{ids['seg2']}/delete/",
                methods=("post",),
            ),
        ],
        "contacts:job_status": on_id("contacts:job_status", f"jobs/{job}/status/"),
        # POST only; the job is not stalled, so the control is sent back to its page.
        "contacts:job_restart": [
            Probe("contacts:job_restart", base + f"jobs/{job}/restart/", methods=("post",)),
            Probe(
                "contacts:job_restart",
                f"/t/{h}/contacts/jobs/{job}/restart/",
                control_url=base + f"jobs/{job}/restart/",
                methods=("post",),
            ),
        ],
        "contacts:signup_forms": [
            Probe("contacts:signup_forms", base + "forms/", methods=("get",))
        ],
        "contacts:signup_form_new": [
            Probe("contacts:signup_form_new", base + "forms/new/", form={"name": ""})
        ],
        "contacts:signup_form": on_id(
            "contacts:signup_form",
            f"forms/{ids['signup_form']}/",
            own=("get", "post"),
            form={"name": ""},
        ),
        "api:list_signup_forms": [
            Probe("api:list_signup_forms", f"{api}/signup-forms", kind="api")
        ],
        "api:create_signup_form": [
            Probe(
                "api:create_signup_form",
                f"{api}/signup-forms",
                kind="api",
                method="post",
                # Valid for the schema, refused by the service (422) once the tenant is reached.
                body={"name": "", "list_id": 0, "consent_text": ""},
                control_statuses=(422,),
            )
        ],
        "contacts:job_errors": on_id("contacts:job_errors", f"jobs/{job}/errors.csv"),
        "api:list_contacts": [Probe("api:list_contacts", f"{api}/contacts", kind="api")],
        "api:create_contact": [
            Probe(
                "api:create_contact",
                f"{api}/contacts",
                kind="api",
                method="post",
                body={"email": ""},
                control_statuses=(422,),
            )
        ],
        "api:get_contact": [
            Probe("api:get_contact", f"{api}/contacts/{contact}", kind="api"),
            # The outsider's own tenant id, the target's contact id.
            Probe(
                "api:get_contact",
                f"/api/v1/tenants/{home.pk}/contacts/{contact}",
                kind="api",
                control_url=f"{api}/contacts/{contact}",
            ),
        ],
        "api:list_lists": [Probe("api:list_lists", f"{api}/lists", kind="api")],
        "api:create_list": [
            Probe(
                "api:create_list",
                f"{api}/lists",
                kind="api",
                method="post",
                body={"name": ""},
                control_statuses=(422,),
            )
        ],
        "api:import_contacts": [
            # A file without an e-mail column: the control reaches the tenant and gets a 422
            # (no job is started by the probes).
            Probe(
                "api:import_contacts",
                f"{api}/contacts/import",
                kind="api",
                method="post",
                files={"file": b"name\nx\n"},
                control_statuses=(422,),
            )
        ],
    }


def _assert_members_untouched(stage: Stage) -> None:
    for user in (
        *stage.members.values(),
        *stage.api_members.values(),
        *stage.spare_members.values(),
    ):
        membership = Membership.objects.get(user=user)
        assert (membership.role, membership.deactivated_at) == (Role.VIEWER, None), user
    assert not Invitation.objects.exists()
    assert not User.objects.filter(email__contains="invited@").exists()
    assert not User.objects.filter(email__contains="admin@").exists()
    statuses = set(Tenant.objects.values_list("status", flat=True))
    assert "handed_over" not in statuses


def _assert_content_untouched(stage: Stage) -> None:
    # Checks across the staged tenants: no single tenant's scope applies.
    with scopes_disabled():
        for item in stage.items.values():
            now = ContentItem.objects.get(pk=item.pk)
            assert (now.name, now.version, now.deleted_at) == (item.name, 1, None), item
        for item in (*stage.web_items.values(), *stage.spare_items.values()):
            now = ContentItem.objects.get(pk=item.pk)
            assert (now.name, now.version, now.deleted_at) == (item.name, item.version, None)
        assert not ContentItem.objects.filter(name__startswith="Untergeschoben").exists()
        assert not ContentItem.objects.filter(name__startswith="Copy of").exists()
        assert not Folder.objects.filter(name__startswith="Untergeschoben").exists()
        for folder in stage.folders.values():
            assert Folder.objects.get(pk=folder.pk).name == folder.name
        assert Job.objects.filter(kind=JobKind.COPY_CONTENT).count() == len(stage.jobs)


def _request(
    client: Client, probe: Probe, method: str, url: str, key: str | None = None
) -> HttpResponse:
    extra = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key else {}
    if probe.files:
        files = {name: SimpleUploadedFile("logo.png", data) for name, data in probe.files.items()}
        return client.generic(
            method.upper(),
            url,
            encode_multipart(BOUNDARY, files),
            content_type=MULTIPART_CONTENT,
            **extra,
        )
    if probe.form and method == "post":
        return client.post(url, probe.form, **extra)
    if probe.body is not None:
        return client.generic(
            method.upper(), url, json.dumps(probe.body), content_type="application/json", **extra
        )
    return getattr(client, method)(url, **extra)


def _methods(probe: Probe) -> tuple[str, ...]:
    return probe.methods if probe.kind == "web" else (probe.method,)


def _all(groups: dict[str, list[Probe]]) -> list[Probe]:
    return [probe for group in groups.values() for probe in group]


def _raw_key(world, user, tenant) -> str:  # type: ignore[no-untyped-def]
    return world.api_key(user, tenant)  # type: ignore[no-any-return]


# --- the route inventory -----------------------------------------------------------------


def _uncovered(routes: list[Route], probed: set[str]) -> set[str]:
    return {
        r.key
        for r in routes
        if r.key not in probed
        and r.key not in GLOBAL_ROUTES
        and r.namespace.split(":")[0] not in GLOBAL_NAMESPACES
    }


def test_every_route_is_probed_or_allowlisted(stage):
    world = stage.world
    routes = all_routes()
    probed = set(probes(stage, world.kunde1, world.fremd))
    assert _uncovered(routes, probed) == set(), (
        "New URL pattern(s) without an isolation probe: add them to probes() in "
        "tests/test_cross_tenant.py (or, if truly global, to GLOBAL_ROUTES with a reason)."
    )
    # …and no stale entries for routes that no longer exist.
    keys = {r.key for r in routes}
    assert probed - keys == set()
    assert set(GLOBAL_ROUTES) - keys == set()
    assert probed.isdisjoint(GLOBAL_ROUTES)
    assert {r.namespace for r in routes} >= set(GLOBAL_NAMESPACES)


def test_the_inventory_notices_a_new_route(stage):
    from mandant.config import urls as project_urls

    def view(request, slug):  # type: ignore[no-untyped-def]
        return HttpResponse()

    fake = types.ModuleType("fake_urls")
    fake.urlpatterns = [  # type: ignore[attr-defined]
        *project_urls.urlpatterns,
        path("t/<slug:slug>/campaigns/", view, name="campaigns"),
        path("t/<slug:slug>/unnamed/", view),
    ]
    world = stage.world
    probed = set(probes(stage, world.kunde1, world.fremd))
    assert _uncovered(all_routes(fake), probed) == {"campaigns", "<t/<slug:slug>/unnamed/>"}


def test_every_probe_hits_the_route_it_claims(stage):
    world = stage.world
    routes = {r.key: r for r in all_routes()}
    for probe in _all(probes(stage, world.kunde1, world.fremd)):
        for url in (probe.url, probe.control_url or probe.url):
            match = resolve(urlsplit(url).path)
            assert match.route == routes[probe.key].route, (probe.key, url)


# --- isolation ---------------------------------------------------------------------------

# (outsider, the outsider's own tenant, target): another partner, a sub-tenant's admin
# looking up at its master and sideways at its sibling, and at the platform root.
CASES = [
    pytest.param("eve", "fremd", "kunde1", id="other-partner->kunde1"),
    pytest.param("eve", "fremd", "alpha", id="other-partner->alpha"),
    pytest.param("eve", "fremd", "filiale", id="other-partner->filiale"),
    pytest.param("carl", "kunde1", "alpha", id="sub-tenant->its-master"),
    pytest.param("carl", "kunde1", "kunde2", id="sub-tenant->its-sibling"),
]


def _control_user(world, probe: Probe):  # type: ignore[no-untyped-def]
    return world.olga if probe.control == "olga" else world.paula


@pytest.mark.parametrize(("outsider", "home", "target"), CASES)
def test_web_routes_are_404_for_outsiders(stage, outsider, home, target):
    world = stage.world
    user, home_t, target_t = (
        getattr(world, outsider),
        getattr(world, home),
        getattr(world, target),
    )
    groups = probes(stage, target_t, home_t)
    client = world.client_for(user)
    failures = []
    for probe in _all(groups):
        if probe.kind != "web":
            continue
        for method in _methods(probe):
            response = _request(client, probe, method, probe.url)
            if response.status_code != 404:
                failures.append((probe.key, method.upper(), probe.url, response.status_code))
    assert failures == []
    # Nothing was changed on the way.
    assert all(key.revoked_at is None for key in ApiKey.objects.all())
    _assert_members_untouched(stage)
    target_t.refresh_from_db()
    assert target_t.configured_at is None
    assert target_t.tenant_management_active == (target == "alpha")  # not switched on


@pytest.mark.parametrize(("outsider", "home", "target"), CASES)
def test_api_routes_are_404_for_outsiders_keys(stage, outsider, home, target):
    world = stage.world
    user, home_t, target_t = (
        getattr(world, outsider),
        getattr(world, home),
        getattr(world, target),
    )
    raw = _raw_key(world, user, home_t)
    client = Client()
    before = Tenant.objects.count()
    failures = []
    for probe in _all(probes(stage, target_t, home_t)):
        if probe.kind != "api":
            continue
        response = _request(client, probe, probe.method, probe.url, key=raw)
        if response.status_code != 404:
            failures.append((probe.key, probe.method.upper(), probe.url, response.status_code))
    assert failures == []
    assert Tenant.objects.count() == before
    _assert_members_untouched(stage)
    _assert_content_untouched(stage)
    target_t.refresh_from_db()
    assert not target_t.name.startswith("Unter")
    assert (
        target_t.version
        == {"alpha": "PROFESSIONAL", "kunde1": "BASIC", "kunde2": "ENTERPRISE", "filiale": "BASIC"}[
            target
        ]
    )


@pytest.mark.parametrize("target", ["kunde1", "alpha", "kunde2", "filiale"])
def test_the_same_urls_work_for_someone_who_may_see_them(stage, target):
    """The control: the 404s above mean "isolated", not "this URL does not exist"."""
    world = stage.world
    target_t = getattr(world, target)
    groups = probes(stage, target_t, world.fremd)
    raws = {
        "paula": _raw_key(world, world.paula, world.alpha),
        "olga": _raw_key(world, world.olga, world.root),
    }
    failures = []
    for probe in _all(groups):
        url = probe.control_url or probe.url
        if probe.kind == "api":
            response = _request(Client(), probe, probe.method, url, key=raws[probe.control])
            if response.status_code not in probe.control_statuses:
                failures.append((probe.key, probe.method.upper(), url, response.status_code))
            continue
        client = world.client_for(_control_user(world, probe))
        for method in _methods(probe):
            response = _request(client, probe, method, url)
            if response.status_code == 404 or response.status_code >= 500:
                failures.append((probe.key, method.upper(), url, response.status_code))
    assert failures == []


@pytest.mark.parametrize("user", ["paula", "carl", "eve"])
def test_operator_pages_are_404_for_non_staff(stage, user):
    world = stage.world
    client = world.client_for(getattr(world, user))
    for probe in _all(probes(stage, world.alpha, world.fremd)):
        if probe.key.startswith("operator:"):
            for method in _methods(probe):
                assert _request(client, probe, method, probe.url).status_code == 404, probe


def test_web_routes_send_anonymous_visitors_to_login(stage):
    world = stage.world
    for probe in _all(probes(stage, world.alpha, world.fremd)):
        if probe.kind == "web":
            response = Client().get(probe.url)
            assert response.status_code == 302, probe
            assert response["Location"].startswith("/login/"), probe


def test_api_routes_do_not_accept_a_session(stage):
    world = stage.world
    client = world.client_for(world.paula)
    for probe in _all(probes(stage, world.kunde1, world.fremd)):
        if probe.kind == "api":
            response = _request(client, probe, probe.method, probe.url)
            assert response.status_code == 401, probe


def test_listing_with_an_outsiders_key_shows_only_its_own_subtree(stage):
    world = stage.world
    raw = _raw_key(world, world.eve, world.fremd)
    response = Client().get(
        "/api/v1/tenants", {"page_size": 200}, HTTP_AUTHORIZATION=f"Bearer {raw}"
    )
    assert [item["slug"] for item in response.json()["items"]] == ["fremdagentur"]
    for q in ("Kunde", "Alpha", "Filiale"):
        response = Client().get("/api/v1/tenants", {"q": q}, HTTP_AUTHORIZATION=f"Bearer {raw}")
        assert response.json()["total"] == 0


def test_web_tenant_list_never_shows_other_partners(stage):
    world = stage.world
    response = world.client_for(world.eve).get(
        "/t/fremdagentur/setup/upgrades/tenants/", {"q": "Kunde"}
    )
    assert response.status_code == 200
    assert b"kunde-eins" not in response.content
    assert "Kunde Eins" not in response.content.decode()


def test_my_tenants_lists_only_own_memberships(stage):
    world = stage.world
    content = world.client_for(world.eve).get("/tenants/").content.decode()
    assert "Fremdagentur" in content
    assert "Agentur Alpha" not in content
    assert "Kunde Eins" not in content


def test_admin_is_closed_to_partners(stage):
    world = stage.world
    client = world.client_for(world.eve)
    for url in (
        "/admin/",
        f"/admin/tenants/tenant/{world.kunde1.pk}/change/",
        "/admin/tenants/tenant/",
        "/admin/accounts/apikey/",
    ):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/admin/login/"), url
    assert (
        world.client_for(world.olga)
        .get(f"/admin/tenants/tenant/{world.kunde1.pk}/change/")
        .status_code
        == 200
    )


def test_creation_form_on_the_own_tenant_cannot_name_a_foreign_master(stage):
    """Ids in form fields are checked too, not only the tenant in the path."""
    world = stage.world
    before = Tenant.objects.count()
    for master in (world.kunde1, world.alpha, world.root):
        response = world.client_for(world.eve).post(
            "/t/fremdagentur/setup/upgrades/tenants/",
            {"name": "Untergeschoben", "type": "STANDARD", "version": "BASIC", "master": master.pk},
        )
        assert response.status_code == 422
        assert "Untergeschoben" in response.content.decode()  # the form is shown again
    assert Tenant.objects.count() == before
