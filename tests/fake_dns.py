"""A tiny authoritative DNS server on 127.0.0.1 (UDP) for the sending-domain checks.

It answers TXT questions from a dict {name: [txt, …]} that the test may change while the
server runs; unknown names get NXDOMAIN. Built on dnspython's own message parsing, so the
resolver path of ``dns_checks`` is exercised for real.
"""

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset


class FakeDns:
    def __init__(self) -> None:
        self.records: dict[str, list[str]] = {}
        self.queries: list[str] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def set_txt(self, name: str, *values: str) -> None:
        self.records[name.rstrip(".").lower()] = list(values)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                wire, peer = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            query = dns.message.from_wire(wire)
            response = dns.message.make_response(query)
            response.flags |= dns.flags.AA
            question = query.question[0]
            name = question.name.to_text().rstrip(".").lower()
            self.queries.append(name)
            values = self.records.get(name)
            if values is None:
                response.set_rcode(dns.rcode.NXDOMAIN)
            elif question.rdtype == dns.rdatatype.TXT and values:
                # Long values as several strings of at most 255 bytes, as real servers do.
                rdatas = []
                for value in values:
                    parts = [value[i : i + 255] for i in range(0, len(value), 255)]
                    rdatas.append(" ".join(f'"{part}"' for part in parts))
                response.answer.append(
                    dns.rrset.from_text_list(question.name, 300, "IN", "TXT", rdatas)
                )
            self.sock.sendto(response.to_wire(), peer)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


@contextmanager
def fake_dns() -> Iterator[FakeDns]:
    server = FakeDns()
    server.start()
    try:
        yield server
    finally:
        server.stop()
