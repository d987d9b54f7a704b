"""A small world every test can tell a story with.

Mandant Platform (root)
└── Agentur Alpha        partner: paula (Customer Service), tenant management active
    ├── Kunde Eins       STANDARD; carl is its Administrator
    │   └── Filiale Eins-A
    └── Kunde Zwei       CUSTOM, ISO-8859-15
└── Fremdagentur         an unrelated partner: eve (Administrator)
olga is an operator (staff).
"""

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.conf import settings
from django.test import Client
from django.utils import translation
from tests.smtp_sink import SmtpServer, smtp_server

from mandant.accounts.models import User
from mandant.accounts.roles import Role
from mandant.accounts.services import apikey_create, membership_set, user_create
from mandant.config.env import email_settings
from mandant.core.actor import Actor
from mandant.tenants.models import Tenant
from mandant.tenants.services import root_tenant, tenant_create, tenant_set_management_active

PASSWORD = "correct-horse-battery-staple-7"


@dataclass
class World:
    root: Tenant
    alpha: Tenant
    kunde1: Tenant
    filiale: Tenant
    kunde2: Tenant
    fremd: Tenant
    olga: User
    paula: User
    carl: User
    eve: User

    def actor(self, user: User) -> Actor:
        return Actor(user=user)

    def client_for(self, user: User) -> Client:
        client = Client()
        client.force_login(user)
        return client

    def set_version(self, tenant: Tenant, version: str) -> Tenant:
        """Change a tenant's edition directly (e.g. PROFESSIONAL includes Copy Content)."""
        Tenant.objects.filter(pk=tenant.pk).update(version=version)
        tenant.refresh_from_db()
        return tenant

    def api_key(self, user: User, tenant: Tenant) -> str:
        _key, raw = apikey_create(actor=Actor(user=user), tenant=tenant, name="test")
        return raw


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):  # type: ignore[no-untyped-def]
    # argon2 is the production hasher (tested in test_accounts); MD5 keeps the suite quick.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _default_language() -> Iterator[None]:
    # Middleware activates a request's language for the thread and leaves it active, as Django
    # does; without this a German request in one test would make the next one run in German.
    with translation.override(settings.LANGUAGE_CODE):
        yield


@pytest.fixture
def world(db) -> World:  # type: ignore[no-untyped-def]
    olga = user_create(email="olga@mandant.example", password=PASSWORD, is_staff=True)
    op = Actor(user=olga)
    root = root_tenant()
    alpha = tenant_create(
        actor=op, name="Agentur Alpha", type="STANDARD", version="PROFESSIONAL", master=root
    )
    tenant_set_management_active(actor=op, tenant=alpha, active=True)
    fremd = tenant_create(
        actor=op, name="Fremdagentur", type="STANDARD", version="BASIC", master=root
    )
    tenant_set_management_active(actor=op, tenant=fremd, active=True)
    paula = user_create(email="paula@alpha.example", password=PASSWORD, first_name="Paula")
    membership_set(actor=op, tenant=alpha, user=paula, role=Role.CUSTOMER_SERVICE)
    eve = user_create(email="eve@fremd.example", password=PASSWORD, first_name="Eve")
    membership_set(actor=op, tenant=fremd, user=eve, role=Role.ADMINISTRATOR)
    pa = Actor(user=paula)
    alpha.refresh_from_db()
    kunde1 = tenant_create(
        actor=pa, name="Kunde Eins", type="STANDARD", version="BASIC", master=alpha
    )
    filiale = tenant_create(
        actor=pa, name="Filiale Eins-A", type="STANDARD", version="BASIC", master=kunde1
    )
    kunde2 = tenant_create(
        actor=pa,
        name="Kunde Zwei",
        type="CUSTOM",
        version="ENTERPRISE",
        master=alpha,
        charset="ISO-8859-15",
    )
    carl = user_create(email="carl@kunde-eins.example", password=PASSWORD, first_name="Carl")
    membership_set(actor=op, tenant=kunde1, user=carl, role=Role.ADMINISTRATOR)
    for tenant in (alpha, kunde1, fremd):
        tenant.refresh_from_db()
    return World(
        root=root,
        alpha=alpha,
        kunde1=kunde1,
        filiale=filiale,
        kunde2=kunde2,
        fremd=fremd,
        olga=olga,
        paula=paula,
        carl=carl,
        eve=eve,
    )


@pytest.fixture
def smtp(settings) -> Iterator[SmtpServer]:  # type: ignore[no-untyped-def]
    """A real SMTP server on loopback; the settings are what EMAIL_URL=smtp://127.0.0.1:<port>
    gives."""
    with smtp_server() as server:
        for key, value in email_settings(server.url).items():
            setattr(settings, key, value)
        settings.EMAIL_TIMEOUT = 5
        yield server
