"""
Personal data at rest, end to end: a citizen is stored encrypted, found by email
without the email being stored, read by a caseworker and an analyst (who see
different things), erased by destroying her key, and the audit trail is verified.

    python examples/privacy.py [FOLDER]

Builds ``privacy-example.db`` (and its key file ``privacy-example.db.kek`` and key
store ``privacy-example.db.keys``) in FOLDER, a new temporary folder by default.
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
from pathlib import Path

import civiccrm
from civiccrm import Actor
from civiccrm._auditing import verify_log
from civiccrm.models import Citizen, ContactPoint
from civiccrm.profile import springfield_path


def main(folder: Path) -> None:
    db = folder / "privacy-example.db"
    url = f"sqlite:///{db}"
    with civiccrm.open(url, profile=springfield_path(), purpose="example") as crm:
        ana = crm.citizens.create(
            Citizen(
                given_name="Anastasia",
                family_name="Kowalczyk",
                contact_points=[ContactPoint.email("anastasia@example.org")],
            )
        )
        case = crm.cases.open(
            "001",
            requester=ana,
            title="Pothole on Converse Avenue",
            attributes={"size": "large"},
        )
        print(f"stored citizen {ana.id} and case {case.reference or case.id}")
        found = crm.citizens.find(email="Anastasia@Example.org")
        print(f"found by email: {[c.family_name for c in found]}")

    raw = b"".join(p.read_bytes() for p in folder.glob("privacy-example.db*"))
    print(f"'Kowalczyk' in the files on disk: {b'Kowalczyk' in raw}")

    for role in ("caseworker", "analyst"):
        session = civiccrm.open(
            url,
            profile=springfield_path(),
            actor=Actor(name=f"a {role}", role=role),
            purpose="example: what each role sees",
        )
        with session:
            seen = session.citizens.get(ana.id)
            print(f"{role:<10} sees: {seen.given_name!r} {seen.family_name!r}")

    with civiccrm.open(url, profile=springfield_path(), purpose="example") as crm:
        crm.citizens.erase(ana.id, reason="erasure request R-1")
        kept = crm.cases.get(case.id)
        print(f"after erasure the case keeps type {kept.case_type!r}, title {kept.title!r}")
        crm.auditor.flush()  # buffered read entries, written now rather than at close
        report = verify_log(crm.storage, crm.keys)
        print(f"audit trail: {'whole' if report.ok else 'BROKEN'}, {report.entries} entries")
    conn = sqlite3.connect(db)
    try:
        entries = [e for (e,) in conn.execute("SELECT entry FROM civiccrm_audit")]
    finally:
        conn.close()
    print(f"'Kowalczyk' in the audit trail: {any('Kowalczyk' in e for e in entries)}")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp))
