"""A contact import queued the way the wizard queues one."""

from mandant.accounts.roles import Role
from mandant.contacts import importing
from mandant.core.actor import Actor, RoleGrant
from mandant.jobs.models import Job


def queued_import(world, csv_text: str, *, keep_valid: bool = False) -> Job:  # type: ignore[no-untyped-def]
    """paula (Customer Service in Agentur Alpha) imports ``csv_text`` into Kunde Eins, with the
    guessed column mapping; the job is queued, not run."""
    kept = importing.upload_create(tenant=world.kunde1, name="c.csv", data=csv_text.encode())
    header, _preview = importing.header_and_preview(kept)
    return importing.import_start(
        actor=Actor(user=world.paula),
        tenant=world.kunde1,
        grant=RoleGrant(role=Role.CUSTOMER_SERVICE, source=world.alpha),
        upload=kept,
        mapping=importing.guess_mapping(header),
        keep_valid=keep_valid,
    )
