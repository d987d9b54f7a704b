"""Forms of the campaign pages. They only parse; the rules live in ``services``."""

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from mandant.billing.features import FeatureDisabled, feature_enabled, require_feature
from mandant.campaigns.message import TRACKING_FEATURE
from mandant.contacts.selectors import lists_of_tenant, segments_of_tenant
from mandant.content.forms import BlockListField
from mandant.content.selectors import block_choices, template_choices
from mandant.sending.selectors import identity_list
from mandant.tenants.models import Tenant


class CampaignForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    subject = forms.CharField(label=_("Subject"), max_length=255, required=False)
    preheader = forms.CharField(
        label=_("Preheader"),
        max_length=255,
        required=False,
        help_text=_("The short text mail programs show after the subject."),
    )
    sender_identity = forms.TypedChoiceField(
        label=_("Sender"), required=False, coerce=int, empty_value=None
    )
    sender_alias = forms.CharField(
        label=_("Sender alias"),
        max_length=100,
        required=False,
        help_text=_("Empty: the alias of the chosen sender."),
    )
    reply_to = forms.CharField(
        label=_("Reply-to address"),
        max_length=254,
        required=False,
        help_text=_("Empty: the reply-to address of the chosen sender."),
    )
    template = forms.TypedChoiceField(
        label=_("Template"), required=False, coerce=int, empty_value=None
    )
    # One select per position (content.forms.BlockSlots): the order is the user's, and it
    # works without JavaScript.
    block_keys = BlockListField(
        label=_("Text blocks"),
        coerce=str,
        required=False,
        help_text=_(
            "Put in where the template has {{ content }}, in this order. Leave a position "
            "empty to drop it."
        ),
    )
    contact_list = forms.TypedChoiceField(
        label=_("List"), required=False, coerce=int, empty_value=None
    )
    segment = forms.TypedChoiceField(
        label=_("Segment"),
        required=False,
        coerce=int,
        empty_value=None,
        help_text=_("Choose a list or a segment."),
    )
    tracking = forms.BooleanField(
        label=_("Track opens and clicks"),
        required=False,
        help_text=_(
            "Links in the mail lead through a redirect and an invisible image counts opens."
        ),
    )

    def __init__(self, *args: Any, tenant: Tenant, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        none = [("", "—")]
        self.fields["sender_identity"].choices = none + [  # type: ignore[attr-defined]
            (i.pk, str(i)) for i in identity_list(tenant)
        ]
        self.fields["template"].choices = none + [  # type: ignore[attr-defined]
            (t.pk, t.name) for t in template_choices(tenant=tenant)
        ]
        self.fields["block_keys"].choices = [  # type: ignore[attr-defined]
            ("", _("— none —")),
            *((str(b.key), b.name) for b in block_choices(tenant=tenant)),
        ]
        self.fields["contact_list"].choices = none + [  # type: ignore[attr-defined]
            (cl.pk, cl.name) for cl in lists_of_tenant(tenant=tenant)
        ]
        self.fields["segment"].choices = none + [  # type: ignore[attr-defined]
            (s.pk, s.name) for s in segments_of_tenant(tenant=tenant)
        ]
        # Offered only with the product; otherwise the page names the product that unlocks it.
        self.tracking_locked = ""
        if not feature_enabled(tenant, TRACKING_FEATURE):
            del self.fields["tracking"]
            try:
                require_feature(tenant, TRACKING_FEATURE)
            except FeatureDisabled as exc:
                self.tracking_locked = exc.message


class FromDraftForm(forms.Form):
    draft = forms.TypedChoiceField(label=_("Campaign draft"), coerce=int)
    name = forms.CharField(
        label=_("Name"),
        max_length=200,
        required=False,
        help_text=_("Empty: the name of the campaign draft."),
    )

    def __init__(self, *args: Any, drafts: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["draft"].choices = drafts  # type: ignore[attr-defined]


class TestSendForm(forms.Form):
    to_email = forms.CharField(label=_("Send a test to"), max_length=254)


# datetime-local with seconds (step=1); the value is read in the current time zone.
SCHEDULE_INPUT_FORMATS = ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"]


class ScheduleForm(forms.Form):
    at = forms.DateTimeField(
        label=_("Send at"),
        input_formats=SCHEDULE_INPUT_FORMATS,
        widget=forms.DateTimeInput(
            format="%Y-%m-%dT%H:%M", attrs={"type": "datetime-local", "step": "1"}
        ),
    )
