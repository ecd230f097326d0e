"""Choose the real-note gold set's notes from MTSamples, reproducibly (issue 14).

    python tools/gold_select.py [--csv ../shared/data/mtsamples/mtsamples.csv] [--seed 14]
        [--count 112] -o tests/gold/mtsamples_selection.json

MTSamples lists a transcription under up to three specialties; each distinct text is one note,
its specialties the clinical ones among them (document-type "specialties" such as "Discharge
Summary" are not clinical). The note type is read from the document: its specialty labels, its
title and its headers. Operative, procedure, radiology, laboratory, autopsy and letter documents
are left out. Notes are drawn by a seeded shuffle, type by type to a quota, with no specialty
taking more than its share, so that the set spans note types and specialties in about the mix
the collection has. An H&P is inpatient when it admits the patient, outpatient otherwise.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

DEFAULT_CSV = Path(__file__).resolve().parents[1].parent / "shared/data/mtsamples/mtsamples.csv"

# Labels MTSamples files as specialties that are really document types.
DOCUMENT_LABELS = {
    "Consult - History and Phy.",
    "Discharge Summary",
    "Emergency Room Reports",
    "SOAP / Chart / Progress Notes",
    "Office Notes",
    "Letters",
    "IME-QME-Work Comp etc.",
}
LEFT_OUT_LABELS = {"Radiology", "Lab Medicine - Pathology", "Autopsy", "Letters", "Dentistry"}
# Headers and titles of documents that are not encounter notes a diagnosis coder codes alone.
PROCEDURE_WORDS = re.compile(
    r"PREOPERATIVE DIAGNOS|POSTOPERATIVE DIAGNOS|PROCEDURE PERFORMED|OPERATION PERFORMED|"
    r"PROCEDURES? IN DETAIL|DESCRIPTION OF (?:THE )?(?:PROCEDURE|OPERATION)|ESTIMATED BLOOD LOSS|"
    r"TECHNIQUE:|FINDINGS:|INDICATIONS? FOR (?:THE )?(?:PROCEDURE|STUDY|EXAM)|REASON FOR EXAM|"
    r"IMPRESSION:,? ?1\. ?Normal|ECHOCARDIOGRAM|ELECTROMYOGRAPHY|NERVE CONDUCTION|POLYSOMNOGRA",
)
PROCEDURE_TITLES = re.compile(
    r"ectomy|otomy|plasty|oscopy|scopy|graphy|gram\b|biopsy|repair|injection|block|"
    r"catheteriz|insertion|excision|removal|study|test|scan|x-ray|MRI|CT\b|ultrasound|echo|EKG|"
    r"EEG|EMG|operative|procedure|surgery|letter|autopsy|pathology",
    re.IGNORECASE,
)
QUOTAS = {"discharge summary": 28, "h&p": 20, "consult": 26, "ed": 14, "office/progress": 24}
ADMISSION = re.compile(r"\badmi(?:tted|ssion)\b", re.IGNORECASE)


def setting(kind: str, text: str) -> str:
    """Discharge summaries and admission H&Ps are inpatient; ED, office, consult outpatient."""
    if kind == "discharge summary" or (kind == "h&p" and ADMISSION.search(text)):
        return "inpatient"
    return "outpatient"


def note_type(labels: set[str], title: str, text: str) -> str | None:
    """The document's type, or None for one the gold set leaves out."""
    head = text[:400].upper()
    if labels & LEFT_OUT_LABELS or PROCEDURE_TITLES.search(title):
        return None
    if PROCEDURE_WORDS.search(text):
        return None
    if "Discharge Summary" in labels or re.search(r"DISCHARGE DIAGNOS|HOSPITAL COURSE", text):
        return "discharge summary"
    if "Emergency Room Reports" in labels or re.search(r"EMERGENCY (?:DEPARTMENT|ROOM)", head):
        return "ed"
    if re.search(r"consult", title, re.IGNORECASE) or "REASON FOR CONSULT" in text:
        return "consult"
    if re.search(r"H&P|History (?:and|&) Physical|admission", title, re.IGNORECASE):
        return "h&p"
    if labels & {"SOAP / Chart / Progress Notes", "Office Notes"} or "SUBJECTIVE:" in text:
        return "office/progress"
    if "Consult - History and Phy." in labels and "HISTORY OF PRESENT ILLNESS" in text:
        return "h&p"
    return None


def notes(csv_path: Path) -> list[dict]:
    """One record per distinct transcription, with all its specialty labels."""
    by_text: dict[str, dict] = {}
    with csv_path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            text = row["transcription"].strip()
            if not text:
                continue
            note = by_text.setdefault(
                text,
                {
                    "note_id": int(row["note_id"]),
                    "title": row["sample_name"].strip(),
                    "description": row["description"].strip(),
                    "labels": set(),
                    "text": text,
                },
            )
            note["note_id"] = min(note["note_id"], int(row["note_id"]))
            note["labels"].add(row["medical_specialty"].strip())
    return sorted(by_text.values(), key=lambda note: note["note_id"])


def select(csv_path: Path, seed: int, count: int) -> list[dict]:
    pools: dict[str, list[dict]] = defaultdict(list)
    for note in notes(csv_path):
        if not 800 <= len(note["text"]) <= 7000:
            continue  # a fragment, or a document too long for two coders to code by hand here
        kind = note_type(note["labels"], note["title"], note["text"])
        if kind is None:
            continue
        clinical = sorted(note["labels"] - DOCUMENT_LABELS) or ["General Medicine"]
        pools[kind].append({**note, "type": kind, "specialty": clinical[0]})
    rng = random.Random(seed)
    scale = count / sum(QUOTAS.values())
    share = max(3, count // 14)
    chosen: list[dict] = []
    seen_specialties: Counter[str] = Counter()
    for kind, quota in QUOTAS.items():
        pool = pools[kind]
        rng.shuffle(pool)
        wanted = len(chosen) + round(quota * scale)
        for note in pool:
            if len(chosen) == wanted:
                break
            if seen_specialties[note["specialty"]] < share:
                seen_specialties[note["specialty"]] += 1
                chosen.append(note)
    return [
        {
            "id": f"mts-{note['note_id']}",
            "note_id": note["note_id"],
            "type": note["type"],
            "setting": setting(note["type"], note["text"]),
            "specialty": note["specialty"],
            "title": note["title"],
            "text": note["text"],
        }
        for note in chosen
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--count", type=int, default=112)
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args(argv)
    if not args.csv.is_file():
        print(f"gold_select: {args.csv}: no such file", file=sys.stderr)
        return 2
    chosen = select(args.csv, args.seed, args.count)
    args.output.write_text(json.dumps(chosen, indent=1, ensure_ascii=False) + "\n", "utf-8")
    types = Counter(note["type"] for note in chosen)
    specialties = Counter(note["specialty"] for note in chosen)
    print(f"{len(chosen)} notes; types {dict(types)}; {len(specialties)} specialties")
    return 0


if __name__ == "__main__":
    sys.exit(main())
