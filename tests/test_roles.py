"""The permission matrix and how a role reaches a tenant (nearest membership, bounded queries)."""

import pytest

from conftest import PASSWORD
from mandant.accounts.roles import (
    BELOW_OWN_TENANT_ONLY,
    MEMBERSHIP_ROLE_CHOICES,
    PERMISSIONS,
    Action,
    Role,
    grant_allows,
    role_allows,
)
from mandant.accounts.services import membership_set, user_create
from mandant.core.actor import Actor
from mandant.core.errors import NotFound
from mandant.tenants.selectors import actor_may, effective_grant, tenant_get_for_actor
from mandant.tenants.services import tenant_create

OP, ADM, CS, ED, VI = (
    Role.OPERATOR,
    Role.ADMINISTRATOR,
    Role.CUSTOMER_SERVICE,
    Role.EDITOR,
    Role.VIEWER,
)

# Written out by hand on purpose: it must not be derived from PERMISSIONS.
#                                    OP     ADM    CS     ED     VI     no role
MATRIX = {
    Action.TENANT_VIEW:             (True,  True,  True,  True,  True,  False),
    Action.USER_LIST:               (True,  True,  True,  True,  True,  False),
    Action.TENANT_EDIT:             (True,  True,  True,  False, False, False),
    Action.TENANT_CREATE_SUBTENANT: (True,  True,  True,  False, False, False),
    Action.TENANT_LIST_SUBTREE:     (True,  True,  True,  False, False, False),
    Action.APIKEY_MANAGE:           (True,  True,  True,  False, False, False),
    Action.USER_MANAGE:             (True,  True,  True,  False, False, False),
    Action.USER_CREATE_ADMINISTRATOR: (True, True, True,  False, False, False),
    Action.TENANT_HAND_OVER:        (True,  True,  True,  False, False, False),
    Action.CONTENT_VIEW:            (True,  True,  True,  True,  True,  False),
    Action.CONTENT_EDIT:            (True,  True,  True,  True,  False, False),
    Action.CONTENT_COPY:            (True,  True,  True,  False, False, False),
    Action.INVOICE_VIEW:            (True,  True,  False, False, False, False),
    Action.INVOICE_RUN:             (True,  False, False, False, False, False),
    Action.TENANT_MARK_CONFIGURED:  (True,  False, False, False, False, False),
    Action.UPGRADE_VIEW:            (True,  True,  True,  True,  True,  False),
    Action.UPGRADE_ACTIVATE:        (True,  True,  False, False, False, False),
    Action.UPGRADE_HISTORY:         (True,  True,  True,  False, False, False),
    Action.PRICE_LIST_MANAGE:       (True,  False, False, False, False, False),
    Action.CONTACT_VIEW:            (True,  True,  True,  True,  True,  False),
    Action.CONTACT_EDIT:            (True,  True,  True,  True,  False, False),
    Action.CONTACT_IMPORT:          (True,  True,  True,  True,  False, False),
    Action.CAMPAIGN_VIEW:           (True,  True,  True,  True,  True,  False),
    Action.CAMPAIGN_EDIT:           (True,  True,  True,  True,  False, False),
    Action.SENDING_VIEW:            (True,  True,  True,  True,  True,  False),
    Action.SENDING_MANAGE:          (True,  True,  False, False, False, False),
    Action.SENDING_VERIFY_WITHOUT_DNS: (True, False, False, False, False, False),
}  # fmt: skip
ROLES = (OP, ADM, CS, ED, VI, None)


@pytest.mark.parametrize(
    ("role", "action", "allowed"),
    [(role, action, row[i]) for action, row in MATRIX.items() for i, role in enumerate(ROLES)],
    ids=lambda v: getattr(v, "name", None) or str(v),
)
def test_permission_matrix(role, action, allowed):
    assert role_allows(role, action) is allowed


@pytest.mark.parametrize(
    "action", sorted(BELOW_OWN_TENANT_ONLY, key=lambda a: a.value), ids=lambda a: a.value
)
def test_customer_service_manages_users_only_below_its_own_tenant(action):
    # Customer Service: only through an inherited role (a tenant below its own).
    assert grant_allows(CS, action, inherited=True)
    assert not grant_allows(CS, action, inherited=False)
    # Administrators and operators: in their own tenant as well.
    for role in (OP, ADM):
        assert grant_allows(role, action, inherited=False)
        assert grant_allows(role, action, inherited=True)
    for role in (ED, VI, None):
        assert not grant_allows(role, action, inherited=True)


def test_other_actions_do_not_care_where_the_role_comes_from():
    for action in set(Action) - BELOW_OWN_TENANT_ONLY:
        for role in ROLES:
            assert grant_allows(role, action, inherited=False) is role_allows(role, action)


def test_matrix_covers_every_action():
    assert set(MATRIX) == set(Action) == set(PERMISSIONS)


def test_role_order_and_membership_choices():
    assert OP < ADM < CS < ED < VI
    assert [value for value, _label in MEMBERSHIP_ROLE_CHOICES] == [100, 200, 300, 400]
    assert Role.OPERATOR not in dict(MEMBERSHIP_ROLE_CHOICES)


def test_a_role_between_two_others_gets_the_weaker_ones_rights():
    # The gaps are there for new roles: 250 sits between Customer Service and Editor.
    assert role_allows(250, Action.TENANT_VIEW)
    assert not role_allows(250, Action.TENANT_EDIT)


# --- effective_grant --------------------------------------------------------------------------


def grant(user, tenant):
    return effective_grant(Actor(user=user), tenant)


def test_membership_applies_to_the_whole_subtree(world):
    for tenant in (world.alpha, world.kunde1, world.filiale, world.kunde2):
        g = grant(world.paula, tenant)
        assert (g.role, g.source) == (CS, world.alpha)
        assert g.inherited_for(tenant) is (tenant != world.alpha)


def test_no_grant_outside_the_subtree(world):
    assert grant(world.paula, world.fremd) is None
    assert grant(world.paula, world.root) is None
    assert grant(world.carl, world.alpha) is None
    assert grant(world.carl, world.kunde2) is None
    assert grant(world.eve, world.filiale) is None


def test_the_nearest_ancestor_membership_wins_even_when_it_is_weaker(world):
    membership_set(
        actor=Actor(user=world.olga), tenant=world.kunde1, user=world.paula, role=Role.VIEWER
    )

    in_filiale = grant(world.paula, world.filiale)
    assert (in_filiale.role, in_filiale.source) == (VI, world.kunde1)
    assert in_filiale.inherited_for(world.filiale)
    in_kunde1 = grant(world.paula, world.kunde1)
    assert (in_kunde1.role, in_kunde1.source) == (VI, world.kunde1)
    assert not in_kunde1.inherited_for(world.kunde1)
    in_kunde2 = grant(world.paula, world.kunde2)
    assert (in_kunde2.role, in_kunde2.source) == (CS, world.alpha)
    assert not actor_may(Actor(user=world.paula), world.filiale, Action.TENANT_CREATE_SUBTENANT)
    assert actor_may(Actor(user=world.paula), world.kunde2, Action.TENANT_CREATE_SUBTENANT)


def test_the_nearest_ancestor_membership_wins_when_it_is_stronger(world):
    membership_set(
        actor=Actor(user=world.olga),
        tenant=world.filiale,
        user=world.paula,
        role=Role.ADMINISTRATOR,
    )
    assert grant(world.paula, world.filiale).role == ADM
    assert grant(world.paula, world.kunde1).role == CS


def test_operators_act_everywhere_without_a_source(world):
    for tenant in (world.root, world.alpha, world.filiale, world.fremd):
        g = grant(world.olga, tenant)
        assert (g.role, g.source) == (OP, None)
        assert not g.inherited_for(tenant)


def test_inactive_users_have_no_grant(world):
    world.paula.is_active = False
    assert grant(world.paula, world.alpha) is None


def test_grants_are_memoised_per_actor(world, django_assert_num_queries):
    actor = Actor(user=world.paula)
    effective_grant(actor, world.filiale)
    with django_assert_num_queries(0):
        assert effective_grant(actor, world.filiale).role == CS


# --- query cost -------------------------------------------------------------------------------


@pytest.fixture
def chain(world):
    """filiale (depth 3) and below it a chain down to depth 10."""
    olga = Actor(user=world.olga)
    tenants = [world.filiale]
    while tenants[-1].depth < 10:
        tenants.append(
            tenant_create(
                actor=olga,
                name=f"Kette {tenants[-1].depth + 1}",
                type="STANDARD",
                version="BASIC",
                master=tenants[-1],
            )
        )
    return tenants


@pytest.mark.parametrize("depth", [1, 3, 8, 10])
def test_tenant_get_for_actor_costs_at_most_two_queries_at_any_depth(
    world, chain, depth, django_assert_max_num_queries
):
    target = next(t for t in [world.alpha, *chain] if t.depth == depth)
    actor = Actor(user=world.paula)
    with django_assert_max_num_queries(2):
        tenant, g = tenant_get_for_actor(actor, slug=target.slug)
    assert tenant == target
    assert (g.role, g.source) == (CS, world.alpha)


def test_nearest_membership_deep_in_the_chain_costs_two_queries(
    world, chain, django_assert_max_num_queries
):
    deepest = chain[-1]
    assert deepest.depth == 10
    viewer = user_create(email="viewer@kette.example", password=PASSWORD)
    membership_set(actor=Actor(user=world.olga), tenant=world.alpha, user=viewer, role=ADM)
    membership_set(actor=Actor(user=world.olga), tenant=chain[2], user=viewer, role=ED)
    membership_set(actor=Actor(user=world.olga), tenant=chain[5], user=viewer, role=VI)

    with django_assert_max_num_queries(2):
        tenant, g = tenant_get_for_actor(Actor(user=viewer), pk=deepest.pk)
    assert tenant == deepest
    assert (g.role, g.source) == (VI, chain[5])

    with django_assert_max_num_queries(2):
        _tenant, g = tenant_get_for_actor(Actor(user=viewer), slug=chain[4].slug)
    assert (g.role, g.source) == (ED, chain[2])


def test_refusals_cost_no_more_queries(world, chain, django_assert_max_num_queries):
    with django_assert_max_num_queries(2), pytest.raises(NotFound):
        tenant_get_for_actor(Actor(user=world.eve), slug=chain[-1].slug)
    with django_assert_max_num_queries(1), pytest.raises(NotFound):
        tenant_get_for_actor(Actor(user=world.eve), slug="does-not-exist")
    with django_assert_max_num_queries(1):
        _tenant, g = tenant_get_for_actor(Actor(user=world.olga), slug=chain[-1].slug)
    assert g.role == OP
