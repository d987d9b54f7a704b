"""Fail when the German catalogue is incomplete, fuzzy, stale or not compiled.

Runs makemessages into a temporary copy so the check sees every string in the code today.
"""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "mandant"
PO = PACKAGE / "locale" / "de" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")


def parse_po(text: str) -> list[dict[str, str | bool]]:
    entries: list[dict[str, str | bool]] = []
    current: dict[str, str | bool] = {}
    key = ""
    for line in text.splitlines() + [""]:
        if not line.strip():
            if current:
                entries.append(current)
            current, key = {}, ""
            continue
        if line.startswith("#,") and "fuzzy" in line:
            current["fuzzy"] = True
        elif line.startswith("#~"):
            current["obsolete"] = True
        elif line.startswith("#"):
            continue
        elif line.startswith(("msgid ", "msgid_plural ", "msgstr", "msgctxt ")):
            key, _, rest = line.partition(" ")
            current[key] = str(current.get(key, "")) + rest.strip()[1:-1]
        elif line.startswith('"'):
            current[key] = str(current.get(key, "")) + line.strip()[1:-1]
    return entries


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "mandant"
        shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
        env = dict(os.environ, PYTHONPATH=str(Path(tmp)))
        subprocess.run(  # noqa: S603
            [
                sys.executable,
                "-m",
                "django",
                "makemessages",
                "-l",
                "de",
                "--no-obsolete",
                "--settings",
                "mandant.config.settings",
            ],
            cwd=copy,
            env=env,
            check=True,
            capture_output=True,
        )
        fresh = parse_po((copy / "locale/de/LC_MESSAGES/django.po").read_text("utf-8"))
    problems: list[str] = []
    for entry in fresh:
        msgid = str(entry.get("msgid", ""))
        if not msgid:
            continue
        translated = [v for k, v in entry.items() if str(k).startswith("msgstr")]
        if entry.get("fuzzy"):
            problems.append(f"fuzzy: {msgid!r}")
        elif not translated or not all(translated):
            problems.append(f"missing: {msgid!r}")
    committed = PO.read_text("utf-8") if PO.exists() else ""
    committed_ids = {str(e.get("msgid")) for e in parse_po(committed) if not e.get("obsolete")}
    for entry in fresh:
        if entry.get("msgid") and str(entry["msgid"]) not in committed_ids:
            problems.append(f"not in the committed django.po (make messages): {entry['msgid']!r}")
    with tempfile.TemporaryDirectory() as tmp:
        compiled = Path(tmp) / "django.mo"
        check = subprocess.run(  # noqa: S603
            [shutil.which("msgfmt") or "msgfmt", "--check", "-o", str(compiled), str(PO)],
            capture_output=True,
            text=True,
        )
        if check.returncode != 0:
            problems.append(check.stderr)
        elif not MO.exists() or MO.read_bytes() != compiled.read_bytes():
            problems.append(
                "django.mo is not compiled from the current django.po (run make messages)"
            )
    if problems:
        print(f"{len(problems)} translation problem(s):")
        print("\n".join(sorted(set(problems))[:200]))
        return 1
    print(f"German catalogue complete: {len(fresh) - 1} entries.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
