"""An image upload kept across an error page, like the tenant logo (tenants/views.py).

When the image form is refused for another field (say, the name), the browser forgets the chosen
file. The upload is signed into a hidden field instead, bound to the tenant, so the next submit
sends it again without the user choosing it anew. Large files are not kept: the hidden field
would exceed Django's request body limit; the page then asks to choose the file again.
"""

import base64

from django import forms
from django.core import signing

from mandant.content.assets import AssetUpload
from mandant.core.web import TenantRequest
from mandant.tenants.models import Tenant

KEPT_SALT = "mandant.content.asset-kept"
KEPT_MAX_AGE = 3600
# Raw bytes; the signed field is about 1.4x that, well below DATA_UPLOAD_MAX_MEMORY_SIZE.
KEPT_MAX_BYTES = 1024 * 1024
FIELD = "file_kept"


def _salt(tenant: Tenant) -> str:
    return f"{KEPT_SALT}:{tenant.pk}"


def kept_upload(token: str, *, tenant: Tenant) -> AssetUpload | None:
    if not token:
        return None
    try:
        payload = signing.loads(token, salt=_salt(tenant), max_age=KEPT_MAX_AGE)
    except signing.BadSignature:
        return None
    return AssetUpload(data=base64.b64decode(payload["data"]), filename=payload["name"])


def posted_upload(request: TenantRequest, *, tenant: Tenant) -> AssetUpload | None:
    """The image of this submission: a new upload, else the one kept from an earlier try."""
    file = request.FILES.get("file")
    if file is not None:
        return AssetUpload.from_file(file)
    return kept_upload(request.POST.get(FIELD, ""), tenant=tenant)


def keep_upload(form: forms.Form, upload: AssetUpload, *, tenant: Tenant) -> str:
    """Put the upload into the form's hidden field; returns its file name ("" if not kept)."""
    if len(upload.data) > KEPT_MAX_BYTES or (upload.size or 0) > KEPT_MAX_BYTES:
        return ""
    payload = {"data": base64.b64encode(upload.data).decode(), "name": upload.filename}
    data = form.data.copy()  # type: ignore[attr-defined]
    data[FIELD] = signing.dumps(payload, salt=_salt(tenant), compress=True)
    form.data = data
    return upload.filename or "—"
