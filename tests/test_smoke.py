from mandant.tenants.selectors import effective_grant


def test_paula_inherits_her_role_in_the_filiale(world):
    grant = effective_grant(world.actor(world.paula), world.filiale)
    assert grant is not None
    assert grant.role == 200
    assert grant.source == world.alpha


def test_eve_has_no_role_in_alpha(world):
    assert effective_grant(world.actor(world.eve), world.kunde1) is None
