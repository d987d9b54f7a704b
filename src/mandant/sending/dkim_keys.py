"""DKIM keys: generate a pair (dkimpy's ``dknewkey`` helper, which runs the ``openssl``
binary, since the ``cryptography`` package is not a dependency) and sign messages with the
stored private key (dkimpy). The sending pipeline calls ``dkim_sign`` once per message."""

import tempfile
from dataclasses import dataclass
from pathlib import Path

import dkim
from dkim import dknewkey

from mandant.sending.models import SendingDomain

# Headers signed by the pipeline: those a receiver shows or acts on. Unsubscribe headers are
# signed so a relay cannot strip or alter them (RFC 8058 §4 requires them to be covered).
SIGNED_HEADERS = (
    b"from",
    b"to",
    b"subject",
    b"date",
    b"message-id",
    b"reply-to",
    b"mime-version",
    b"content-type",
    b"content-transfer-encoding",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
)


@dataclass(frozen=True)
class DkimKeyPair:
    private_key_pem: str
    public_key_b64: str  # the p= value of the DNS record


def generate_key_pair() -> DkimKeyPair:
    """A new 2048-bit RSA key pair (dknewkey.BITS_REQUIRED)."""
    with tempfile.TemporaryDirectory(prefix="mandant-dkim-") as workdir:
        private_file = Path(workdir) / "private.pem"
        dns_file = Path(workdir) / "dns.txt"
        dknewkey.GenRSAKeys(str(private_file), verbose=False)
        dknewkey.ExtractRSADnsPublicKey(str(private_file), str(dns_file), verbose=False)
        private_pem = private_file.read_text()
        record = dns_file.read_text()
    return DkimKeyPair(private_key_pem=private_pem, public_key_b64=dkim_record_tags(record)["p"])


def dkim_record_tags(record: str) -> dict[str, str]:
    """Tags of a DKIM TXT record (``v=DKIM1; k=rsa; p=…``), whitespace inside values removed."""
    tags: dict[str, str] = {}
    for part in record.split(";"):
        name, sep, value = part.partition("=")
        if sep:
            tags[name.strip().lower()] = "".join(value.split())
    return tags


def dkim_dns_value(public_key_b64: str) -> str:
    return f"v=DKIM1; k=rsa; p={public_key_b64}"


def dkim_sign(message: bytes, domain: SendingDomain) -> bytes:
    """The message with a ``DKIM-Signature`` header prepended (relaxed/relaxed, rsa-sha256)."""
    signature = dkim.sign(
        message,
        domain.dkim_selector.encode("ascii"),
        domain.domain.encode("ascii"),
        domain.dkim_private_key_pem.encode("ascii"),
        canonicalize=(b"relaxed", b"relaxed"),
        include_headers=[h for h in SIGNED_HEADERS if _has_header(message, h)] or [b"from"],
    )
    return signature + message


def _has_header(message: bytes, name: bytes) -> bool:
    head = message.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    prefix = name + b":"
    return any(line.lower().startswith(prefix) for line in head.splitlines())
