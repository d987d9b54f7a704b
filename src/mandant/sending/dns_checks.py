"""The DNS records a sending domain must publish, and checking them (dnspython).

``check_domain_records`` takes a ``resolve`` function (name -> TXT strings) so that tests and
callers can substitute their own; the default asks the resolver configured in the settings
(``SENDING_DNS_NAMESERVERS``, ``SENDING_DNS_TIMEOUT``).
"""

from collections.abc import Callable
from dataclasses import dataclass

import dns.exception
import dns.resolver
from django.conf import settings

from mandant.sending.dkim_keys import dkim_dns_value, dkim_record_tags

# Per-record outcome of a check.
OK = "ok"
MISSING = "missing"
WRONG = "wrong"
ERROR = "error"  # the lookup itself failed (timeout, SERVFAIL): nothing is known


class DnsLookupError(Exception):
    """The DNS could not be asked (timeout, server failure); says nothing about the record."""


TxtResolver = Callable[[str], list[str]]


@dataclass(frozen=True)
class DnsRecord:
    key: str  # "spf", "dkim", "dmarc"
    name: str
    type: str
    value: str


def spf_include() -> str:
    return str(settings.SENDING_SPF_INCLUDE)


def required_records(domain: str, selector: str, public_key_b64: str) -> list[DnsRecord]:
    """The TXT records to publish: SPF naming our include, the DKIM key, a DMARC policy."""
    return [
        DnsRecord("spf", domain, "TXT", f"v=spf1 include:{spf_include()} ~all"),
        DnsRecord("dkim", f"{selector}._domainkey.{domain}", "TXT", dkim_dns_value(public_key_b64)),
        DnsRecord(
            "dmarc", f"_dmarc.{domain}", "TXT", f"v=DMARC1; p=none; rua=mailto:dmarc@{domain}"
        ),
    ]


def dnspython_txt_resolver() -> TxtResolver:
    """TXT lookups through dnspython with the configured nameservers and a short timeout."""
    nameservers: list[str] = list(settings.SENDING_DNS_NAMESERVERS)
    try:
        resolver = dns.resolver.Resolver(configure=not nameservers)
    except dns.exception.DNSException as exc:  # no /etc/resolv.conf on this machine
        reason = str(exc)

        def unconfigured(name: str) -> list[str]:
            raise DnsLookupError(reason)

        return unconfigured
    if nameservers:
        hosts = []
        for entry in nameservers:
            host, _sep, port = entry.rpartition(":") if entry.count(":") == 1 else (entry, "", "")
            hosts.append(host)
            if port:
                resolver.port = int(port)
        resolver.nameservers = hosts
    resolver.timeout = float(settings.SENDING_DNS_TIMEOUT)
    resolver.lifetime = float(settings.SENDING_DNS_TIMEOUT)
    resolver.cache = None

    def resolve(name: str) -> list[str]:
        try:
            answer = resolver.resolve(name, "TXT", search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except dns.exception.DNSException as exc:
            raise DnsLookupError(str(exc)) from exc
        # A TXT record may be split into several strings of up to 255 bytes: join them.
        return [b"".join(rdata.strings).decode("utf-8", "replace") for rdata in answer]

    return resolve


def _lookup(resolve: TxtResolver, name: str) -> tuple[list[str] | None, str]:
    try:
        return resolve(name), ""
    except DnsLookupError as exc:
        return None, str(exc)


def check_spf(found: list[str]) -> str:
    spf = [value for value in found if value.lower().startswith("v=spf1")]
    if not spf:
        return MISSING
    # More than one SPF record is a permanent error for receivers (RFC 7208 §4.5).
    if len(spf) > 1:
        return WRONG
    terms = spf[0].lower().split()
    wanted = f"include:{spf_include().lower()}"
    return OK if any(term.lstrip("+") == wanted for term in terms) else WRONG


def check_dkim(found: list[str], public_key_b64: str) -> str:
    keys = [dkim_record_tags(value) for value in found]
    keys = [tags for tags in keys if "p" in tags]
    if not keys:
        return MISSING
    ok = any(tags["p"] == public_key_b64 and tags.get("k", "rsa").lower() == "rsa" for tags in keys)
    return OK if ok else WRONG


def check_dmarc(found: list[str]) -> str:
    dmarc = [value for value in found if value.replace(" ", "").upper().startswith("V=DMARC1")]
    if not dmarc:
        return WRONG if found else MISSING
    tags = {
        name.strip().lower(): value.strip().lower()
        for name, _sep, value in (part.partition("=") for part in dmarc[0].split(";"))
    }
    return OK if tags.get("p") in ("none", "quarantine", "reject") and len(dmarc) == 1 else WRONG


def check_domain_records(
    domain: str, selector: str, public_key_b64: str, resolve: TxtResolver
) -> dict[str, dict[str, object]]:
    """Look up each required record: {key: {"name", "status", "found", "error"}}."""
    results: dict[str, dict[str, object]] = {}
    for record in required_records(domain, selector, public_key_b64):
        found, error = _lookup(resolve, record.name)
        if found is None:
            status = ERROR
        elif record.key == "spf":
            status = check_spf(found)
        elif record.key == "dkim":
            status = check_dkim(found, public_key_b64)
        else:
            status = check_dmarc(found)
        results[record.key] = {
            "name": record.name,
            "status": status,
            "found": found or [],
            "error": error,
        }
    return results


def all_ok(results: dict[str, dict[str, object]]) -> bool:
    return bool(results) and all(entry["status"] == OK for entry in results.values())
