"""Text that can be stored: the one rule for the API, the CSV import and whatever comes next.

Tab, line feed and carriage return are text. Other C0/C1 control characters are not (NUL is
refused by PostgreSQL, the others break mail headers and CSV exports), nor are lone surrogates
(which no UTF-8 encoder, hence no database, accepts).
"""

import re

UNSTORABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def unstorable_codes(text: str) -> str:
    """ "U+0000, U+D800" for the characters of ``text`` that cannot be stored; "" for none."""
    found = {match.group() for match in UNSTORABLE.finditer(text)}
    return ", ".join(sorted(f"U+{ord(ch):04X}" for ch in found))
