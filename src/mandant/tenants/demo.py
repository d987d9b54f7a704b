"""Demo data: idempotent, printed for people and (``--json``) for scripts."""

from dataclasses import asdict, dataclass

from django.db import transaction
from django.utils import timezone

from mandant.accounts.models import ApiKey, User
from mandant.accounts.roles import Role
from mandant.accounts.services import (
    apikey_create,
    demo_raw_key,
    membership_set,
    user_create,
)
from mandant.billing.models import BillingAccount
from mandant.campaigns.demo import demo_ready_to_send
from mandant.core.actor import Actor
from mandant.tenants.models import Tenant
from mandant.tenants.names import tenant_name_key
from mandant.tenants.services import root_tenant, tenant_create, tenant_set_management_active

OPERATOR_EMAIL = "operator@mandant.example"
OPERATOR_PASSWORD = "operator-lavendel-wolke-42"  # noqa: S105 - demo only, printed on purpose
PARTNER_EMAIL = "partner@demo-agentur.example"
PARTNER_PASSWORD = "partner-tulpe-fahrrad-77"  # noqa: S105 - demo only, printed on purpose
PARTNER_TENANT = "Demo Agentur"
CUSTOMERS = [
    ("Bäckerei Sonnenschein", "STANDARD", "BASIC", "UTF-8"),
    ("Autohaus Nord", "STANDARD", "PROFESSIONAL", "UTF-8"),
    ("Stadtwerke Musterstadt", "CUSTOM", "ENTERPRISE", "ISO-8859-15"),
]
CUSTOMER_ADMIN_EMAIL = "admin@autohaus-nord.example"
CUSTOMER_ADMIN_PASSWORD = "autohaus-kolibri-segel-58"  # noqa: S105 - demo only, printed
CUSTOMER_ADMIN_TENANT = "Autohaus Nord"
DEMO_KEY_SEED = "mandant-demo-api-key"
DEMO_BILLING_ACCOUNT = {
    "name": "Demo Agentur GmbH",
    "address": "Musterweg 1\n20095 Hamburg",
    "country": "DE",
    "vat_id": "DE123456789",
    "email": "buchhaltung@demo-agentur.example",
}


@dataclass
class DemoLogins:
    url: str
    operator_email: str
    operator_password: str
    partner_email: str
    partner_password: str
    customer_admin_email: str
    customer_admin_password: str
    partner_tenant_id: int
    partner_tenant_slug: str
    api_key: str


def _user(email: str, password: str, **fields: object) -> User:
    """The demo user, created once; demo addresses count as verified (they cannot receive)."""
    user = User.objects.filter(email__iexact=email).first()
    if user is None:
        user = user_create(email=email, password=password, **fields)  # type: ignore[arg-type]
        user.email_verified_at = timezone.now()
        user.save(update_fields=["email_verified_at"])
    return user


@transaction.atomic
def demo_load(url: str = "http://127.0.0.1:8000/") -> DemoLogins:
    operator = _user(
        OPERATOR_EMAIL, OPERATOR_PASSWORD, first_name="Olga", last_name="Operator", is_staff=True
    )
    op = Actor(user=operator)
    partner_tenant = Tenant.objects.filter(name_key=tenant_name_key(PARTNER_TENANT)).first()
    if partner_tenant is None:
        partner_tenant = tenant_create(
            actor=op,
            name=PARTNER_TENANT,
            type="STANDARD",
            version="PROFESSIONAL",
            master=root_tenant(),
        )
    if not partner_tenant.tenant_management_active:
        tenant_set_management_active(actor=op, tenant=partner_tenant, active=True)
    partner = _user(
        PARTNER_EMAIL, PARTNER_PASSWORD, first_name="Paula", last_name="Partner", language="de"
    )
    if not partner.memberships.filter(tenant=partner_tenant).exists():
        membership_set(actor=op, tenant=partner_tenant, user=partner, role=Role.CUSTOMER_SERVICE)
    partner_actor = Actor(user=partner)
    # The partner pays for its customers (as service staff would set it up in the admin), so
    # an upgrade activated in the demo shows whose invoice it goes on.
    BillingAccount.objects.get_or_create(tenant=partner_tenant, defaults=DEMO_BILLING_ACCOUNT)
    for name, tenant_type, version, charset in CUSTOMERS:
        existing = Tenant.objects.filter(name_key=tenant_name_key(name)).first()
        if existing is None:
            existing = tenant_create(
                actor=partner_actor,
                name=name,
                type=tenant_type,
                version=version,
                master=partner_tenant,
                charset=charset,
            )
    # One customer tenant with a verified administrator, ready to be handed over.
    customer = Tenant.objects.get(name_key=tenant_name_key(CUSTOMER_ADMIN_TENANT))
    customer_admin = _user(
        CUSTOMER_ADMIN_EMAIL, CUSTOMER_ADMIN_PASSWORD, first_name="Anton", last_name="Nord"
    )
    if not customer_admin.memberships.filter(tenant=customer).exists():
        membership_set(actor=op, tenant=customer, user=customer_admin, role=Role.ADMINISTRATOR)
    _demo_content(partner_actor, partner_tenant)
    # Ready to send: a campaign can go out at once (to the outbox with EMAIL_URL=outbox://).
    demo_ready_to_send(
        operator=op,
        admin=Actor(user=customer_admin),
        tenant=customer,
        domain="news.autohaus-nord.example",
    )
    key = ApiKey.objects.filter(tenant=partner_tenant, name="Demo").first()
    if key is None:
        _key, raw = apikey_create(
            actor=partner_actor,
            tenant=partner_tenant,
            name="Demo",
            deterministic_seed=DEMO_KEY_SEED,
        )
    else:
        raw = demo_raw_key(DEMO_KEY_SEED)
    return DemoLogins(
        url=url,
        operator_email=OPERATOR_EMAIL,
        operator_password=OPERATOR_PASSWORD,
        partner_email=PARTNER_EMAIL,
        partner_password=PARTNER_PASSWORD,
        customer_admin_email=CUSTOMER_ADMIN_EMAIL,
        customer_admin_password=CUSTOMER_ADMIN_PASSWORD,
        partner_tenant_id=partner_tenant.pk,
        partner_tenant_slug=partner_tenant.slug,
        api_key=raw,
    )


def demo_as_dict(logins: DemoLogins) -> dict[str, object]:
    return asdict(logins)


DEMO_TEMPLATE = "Demo Agentur Newsletter"


def _demo_content(actor: Actor, partner_tenant: Tenant) -> None:
    """The partner's own newsletter template, copied into its customers (Copy Content), so
    the customers' libraries show an inherited item with its origin."""
    from django_scopes import scope

    from mandant.content import copying
    from mandant.content.models import ContentItem
    from mandant.content.services import item_create

    with scope(tenant=partner_tenant.pk):
        if ContentItem.objects.filter(tenant=partner_tenant, name=DEMO_TEMPLATE).exists():
            return
    template = item_create(
        actor=actor,
        tenant=partner_tenant,
        kind="template",
        name=DEMO_TEMPLATE,
        subject="Neuigkeiten von {{ tenant.name }}",
        html=(
            '<table role="presentation" width="100%" cellpadding="0" cellspacing="0">'
            '<tr><td style="padding:24px;font-family:Arial,sans-serif;background:#1d3557;'
            'color:#ffffff;font-size:22px">Demo Agentur · Newsletter</td></tr>'
            '<tr><td style="padding:24px;font-family:Arial,sans-serif;font-size:16px">'
            "Hallo {{ contact.first_name }},</td></tr>"
            "<tr><td>{{ content }}</td></tr>"
            '<tr><td style="padding:24px;font-family:Arial,sans-serif;font-size:12px;'
            'color:#666666">{{ sender.postal_address }} · '
            '<a href="{{ unsubscribe_url }}">Abmelden</a></td></tr></table>'
        ),
        text=(
            "Hallo {{ contact.first_name }},\n\n{{ content }}\n\n"
            "{{ sender.postal_address }}\nAbmelden: {{ unsubscribe_url }}"
        ),
        language="de",
    )
    job = copying.copy_content_start(
        actor=actor, source=partner_tenant, item_ids=[template.pk], all_descendants=True
    )
    copying.copy_job_run(job_id=job.pk)
