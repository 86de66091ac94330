"""
Personal data in free text: civiccrm's detectors against Microsoft Presidio's, side by side.

    python benchmarks/redaction.py [--docs N] [--seed S] [--repeat R]
                                   [--only {both,civiccrm,presidio}] [--errors] [--json]
                                   [--corpus {templates,blind}]

The corpus (``benchmarks/_pii_corpus.py``, read its docstring) is N documents (default
3,000, seed 2026) in equal shares of citizens' emails to 311, caseworkers' notes and
311 call transcripts, made from templates filled with Faker (en_US) and labelled as they
are built: every span of personal data of the twelve ``PiiType`` types, and decoys that
look like personal data and are not (case and ticket numbers that are valid phone
numbers, appointment dates, invalid SSNs, parcel numbers, amounts, place names ...).

civiccrm         ``Analyzer(default_detectors()).analyze(text)`` per document, with no
                 known entities: what it finds on its own.
civiccrm +known  the same with ``known=KnownEntities(...)`` holding the document's own
                 people as the CRM stores a case's parties (names "Given Family",
                 emails, phones in E.164, street address lines): reported separately.
Presidio         presidio-analyzer's ``AnalyzerEngine`` with its ``NoOpNlpEngine`` (no
                 spaCy model: none can be downloaded here, so no PERSON and no address
                 detection, shown as "-") and the predefined recognizers its default
                 configuration loads for English (credit card, US bank number, US
                 driver's licence, ITIN, passport, SSN, UK NHS, crypto, date, email,
                 IBAN, IP, medical licence, MAC, UUID, phone, URL), at its default score
                 threshold (0: every result it scores is kept). Without NLP tokens its
                 context words cannot raise a score. Its types are mapped to ours
                 (EMAIL_ADDRESS -> EMAIL, PHONE_NUMBER -> PHONE, IBAN_CODE -> IBAN,
                 US_DRIVER_LICENSE -> DRIVER_LICENSE, US_PASSPORT -> PASSPORT, and
                 DATE_TIME -> DATE_OF_BIRTH, for the comparison only: Presidio has no
                 date-of-birth type, so each other date it finds is a false positive of
                 that row); its other types (URL, US_BANK_NUMBER, ...) keep their names,
                 count in no row, but do cover text. Its findings, which overlap across
                 types, are then resolved by score with civiccrm's ``resolve_overlaps``,
                 outside the timer. The same recognizers are also called directly,
                 ``recognizer.analyze(text, entities, nlp_artifacts=None)`` (without the
                 engine's bookkeeping): timed too, and checked to give the same findings.
                 The throughput target is against the faster of the two.

``--corpus blind`` scores instead the corpus of ``benchmarks/_pii_corpus_blind.py`` (read
its docstring): other document shapes and wording (web forms, voicemail transcripts,
handover notes, forwarded threads, inspection reports, field notes, letters, SMS),
written without looking at the detectors, which were tuned on the default ``templates``
corpus; its figures are the blind ones.

Scoring, per type: a predicted span is a true positive if it overlaps a gold span of
the same type by at least half of the gold span's length; precision is the share of
predicted spans that are, recall the share of gold spans that at least one predicted
span of the same type overlaps by that much; F1 their harmonic mean. The "all" rows are
micro-averages (counts summed over types). "Left in clear" is the share of the gold
spans' characters that no predicted span covers, whatever its type: what a redactor
masking every finding would leave readable. A decoy counts as flagged if any predicted
span overlaps it.

Throughput: only the detection is timed (the corpus is built and the known entities
made beforehand; the scoring is after), over the whole corpus per pass, in characters
per second. Each side first runs untimed on the first 200 documents (lazy loading,
caches); then R timed passes per side (default 3) alternate between the sides, each
after a full garbage collection, and the best is reported. Single process, one thread.

Targets: civiccrm at least 20x Presidio's throughput; civiccrm's F1 above Presidio's on
every type both detect (or both at 1); PERSON and US_ADDRESS F1 above 0.9; under 0.5 % of the
personal-data characters left in clear (the last three for civiccrm without known
entities). ``--errors`` lists civiccrm's most common false positives and false
negatives, without and with known entities (grouped by type, the value's shape, the
word before it and what was found instead), to tune the detectors; Presidio's with
``--only presidio``. With ``--json`` the last line printed is one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import logging
import os
import platform
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from importlib import metadata
from typing import Any

from _pii_corpus import Document, make_documents
from _pii_corpus_blind import make_documents as make_blind_documents

import civiccrm
from civiccrm.privacy.detect import Analyzer, Finding, KnownEntities, PiiType, resolve_overlaps

SEED = 2026
DOCS = 3_000
WARMUP_DOCS = 200
TYPES = tuple(t.value for t in PiiType)
MATCH_SHARE = 0.5  # of the gold span's length
TARGET_RATIO = 20.0  # civiccrm / Presidio, characters per second, at least
TARGET_F1 = {"PERSON": 0.9, "US_ADDRESS": 0.9}  # above
TARGET_CLEAR = 0.005  # share of personal-data characters left in clear, under

PRESIDIO_TYPES = {
    "EMAIL_ADDRESS": "EMAIL",
    "PHONE_NUMBER": "PHONE",
    "US_SSN": "US_SSN",
    "US_ITIN": "US_ITIN",
    "CREDIT_CARD": "CREDIT_CARD",
    "IBAN_CODE": "IBAN",
    "IP_ADDRESS": "IP_ADDRESS",
    "DATE_TIME": "DATE_OF_BIRTH",
    "US_DRIVER_LICENSE": "DRIVER_LICENSE",
    "US_PASSPORT": "PASSPORT",
}
CIVICCRM_MODULES = ("_patterns", "_names", "_addresses", "_known")
CORPORA: dict[str, tuple[str, Callable[[int, int], list[Document]]]] = {
    "templates": ("benchmarks/_pii_corpus.py", make_documents),
    "blind": ("benchmarks/_pii_corpus_blind.py", make_blind_documents),
}

SIDES = ("civiccrm", "known", "presidio")
LABELS = {"civiccrm": "civiccrm", "known": "civiccrm +known", "presidio": "Presidio"}
TIMED = ("civiccrm", "known", "presidio", "presidio_direct")
TIMED_LABELS = {
    "civiccrm": "civiccrm analyze",
    "known": "civiccrm analyze, known entities",
    "presidio": "Presidio AnalyzerEngine (no-op NLP)",
    "presidio_direct": "Presidio recognizers, called directly",
}

Pred = tuple[int, int, str]  # start, end, type


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------
# The two sides


def load_civiccrm() -> Analyzer:
    from civiccrm.privacy.detect import default_detectors

    missing = [
        f"civiccrm.privacy.{m}"
        for m in CIVICCRM_MODULES
        if importlib.util.find_spec(f"civiccrm.privacy.{m}") is None
    ]
    try:
        detectors = default_detectors()
    except ImportError as exc:
        raise SystemExit(
            "civiccrm's built-in PII detectors are not ready: default_detectors() raised "
            f"{type(exc).__name__}: {exc}\n"
            + (f"missing modules: {', '.join(missing)}\n" if missing else "")
            + "run with --only presidio to measure Presidio and check the corpus meanwhile"
        ) from None
    return Analyzer(detectors)


def load_presidio() -> tuple[Any, list[Any]]:
    """Presidio's engine with the no-op NLP engine, and its English recognizers."""
    # tldextract (used by the email recognizer) fetches the public suffix list over the
    # network on first use unless told no URLs: then it uses its bundled snapshot.
    os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
    try:
        from presidio_analyzer import AnalyzerEngine
        from presidio_analyzer.nlp_engine import NoOpNlpEngine
    except ImportError:
        raise SystemExit(
            "the peer needs presidio-analyzer (with its NoOpNlpEngine): "
            "pip install presidio-analyzer"
        ) from None
    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    nlp = NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "no_op"}])
    nlp.load()
    engine = AnalyzerEngine(nlp_engine=nlp, supported_languages=["en"])
    recognizers = engine.registry.get_recognizers(language="en", all_fields=True)
    return engine, recognizers


def run_civiccrm(analyzer: Analyzer, texts: Sequence[str]) -> list[list[Finding]]:
    analyze = analyzer.analyze
    return [analyze(t) for t in texts]


def run_known(
    analyzer: Analyzer, texts: Sequence[str], known: Sequence[KnownEntities]
) -> list[list[Finding]]:
    analyze = analyzer.analyze
    return [analyze(t, known=k) for t, k in zip(texts, known, strict=True)]


def run_presidio(engine: Any, texts: Sequence[str]) -> list[list[Any]]:
    analyze = engine.analyze
    return [analyze(t, language="en") for t in texts]


def run_presidio_direct(recognizers: Sequence[Any], texts: Sequence[str]) -> list[list[Any]]:
    out = []
    for t in texts:
        found = []
        for r in recognizers:
            found.extend(r.analyze(t, r.supported_entities, None))
        out.append(found)
    return out


def known_entities(doc: Document) -> KnownEntities:
    p = doc.parties
    return KnownEntities(names=p.names, emails=p.emails, phones=p.phones, addresses=p.addresses)


def civiccrm_preds(findings: Sequence[Finding]) -> list[Pred]:
    return [(f.start, f.end, str(f.type)) for f in findings]


def presidio_preds(results: Sequence[Any]) -> list[Pred]:
    """Presidio's results, types mapped, overlaps resolved by score as civiccrm does."""
    findings = [
        Finding(
            type=PRESIDIO_TYPES.get(r.entity_type, r.entity_type),
            start=r.start,
            end=r.end,
            score=min(1.0, max(0.0, float(r.score))),
            detector=str((r.recognition_metadata or {}).get("recognizer_name", "presidio")),
        )
        for r in results
        if r.end > r.start and r.score > 0
    ]
    return [(f.start, f.end, f.type) for f in resolve_overlaps(findings)]


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds ``fn`` takes (after a full collection), and what it returned."""
    gc.collect()
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


# --------------------------------------------------------------------------------------
# Scoring


def _overlap(a0: int, a1: int, b0: int, b1: int) -> int:
    return max(0, min(a1, b1) - max(a0, b0))


def _shape(value: str) -> str:
    """ "(217) 555-0134" -> "(999) 999-9999"; "Ruth Cole" -> "Aa Aa"."""
    s = re.sub(r"[A-Z]", "A", re.sub(r"[a-z]", "a", re.sub(r"\d", "9", value)))
    return re.sub(r"([Aa])\1+", r"\1", s).replace("\n", "\\n")


def _word_before(text: str, start: int) -> str:
    words = re.findall(r"[A-Za-z#']+", text[max(0, start - 30) : start])
    return words[-1].lower() if words else ""


def _snippet(text: str, start: int, end: int) -> str:
    left = text[max(0, start - 35) : start]
    right = text[end : end + 20]
    return f"{left}[{text[start:end]}]{right}".replace("\n", "\\n")


def score(docs: Sequence[Document], preds: Sequence[Sequence[Pred]]) -> dict[str, Any]:
    """Counts per type, characters left in clear, decoys flagged, and the errors."""
    n_gold, n_pred, tp_pred, tp_gold = Counter(), Counter(), Counter(), Counter()
    gold_chars, clear_chars = Counter(), Counter()
    other: Counter[str] = Counter()
    decoys, flagged = Counter(), Counter()
    fps: list[tuple[int, int, int, str]] = []
    fns: list[tuple[int, int, int, str, str]] = []
    for i, (doc, found) in enumerate(zip(docs, preds, strict=True)):
        text, gold = doc.text, doc.spans
        covered = bytearray(len(text))
        for s, e, _ in found:
            covered[s:e] = b"\x01" * (e - s)
        for s, e, t in found:
            if t not in TYPES:
                other[t] += 1
                continue
            n_pred[t] += 1
            if any(
                g.type == t and _overlap(s, e, g.start, g.end) * 2 >= g.end - g.start for g in gold
            ):
                tp_pred[t] += 1
            else:
                fps.append((i, s, e, t))
        for g in gold:
            length = g.end - g.start
            n_gold[g.type] += 1
            gold_chars[g.type] += length
            clear_chars[g.type] += length - sum(covered[g.start : g.end])
            hits = [(s, e, t) for s, e, t in found if _overlap(s, e, g.start, g.end)]
            if any(
                t == g.type and _overlap(s, e, g.start, g.end) * 2 >= length for s, e, t in hits
            ):
                tp_gold[g.type] += 1
                continue
            if not hits:
                how = "not found"
            else:
                s, e, t = max(hits, key=lambda h: _overlap(h[0], h[1], g.start, g.end))
                share = _overlap(s, e, g.start, g.end) / length
                how = f"found as {t}" if t != g.type else "found in part"
                how += f" ({share:.0%} of it)" if share < 1 else ""
            fns.append((i, g.start, g.end, g.type, how))
        for d in doc.decoys:
            decoys[d.kind] += 1
            if any(covered[d.start : d.end]):
                flagged[d.kind] += 1
    return {
        "n_gold": n_gold,
        "n_pred": n_pred,
        "tp_pred": tp_pred,
        "tp_gold": tp_gold,
        "gold_chars": gold_chars,
        "clear_chars": clear_chars,
        "other": other,
        "decoys": decoys,
        "flagged": flagged,
        "fps": fps,
        "fns": fns,
    }


def prf(
    tp_pred: int, n_pred: int, tp_gold: int, n_gold: int
) -> tuple[float | None, float | None, float | None]:
    precision = tp_pred / n_pred if n_pred else None
    recall = tp_gold / n_gold if n_gold else None
    if precision is None or recall is None:
        return precision, recall, 0.0 if recall is not None else None
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def metrics(sc: dict[str, Any], detects: frozenset[str], shared: frozenset[str]) -> dict[str, Any]:
    """Precision, recall and F1 per type the side detects, and micro-averages over all
    types and over ``shared`` (the types both sides detect)."""
    per_type: dict[str, dict[str, Any]] = {}
    for t in TYPES:
        row: dict[str, Any] = {
            "gold": sc["n_gold"][t],
            "predicted": sc["n_pred"][t],
            "true_positive_predictions": sc["tp_pred"][t],
            "gold_found": sc["tp_gold"][t],
            "gold_chars": sc["gold_chars"][t],
            "clear_chars": sc["clear_chars"][t],
            "detects": t in detects,
        }
        p, r, f = (
            prf(sc["tp_pred"][t], sc["n_pred"][t], sc["tp_gold"][t], sc["n_gold"][t])
            if t in detects
            else (None, None, None)
        )
        row |= {"precision": p, "recall": r, "f1": f}
        per_type[t] = row
    micro = {}
    for name, types in (("all", TYPES), ("shared", tuple(t for t in TYPES if t in shared))):
        p, r, f = prf(
            *(sum(sc[k][t] for t in types) for k in ("tp_pred", "n_pred", "tp_gold", "n_gold"))
        )
        micro[name] = {"precision": p, "recall": r, "f1": f}
    gold_chars = sum(sc["gold_chars"].values())
    clear = sum(sc["clear_chars"].values())
    return {
        "types": per_type,
        "micro": micro,
        "clear_chars": clear,
        "gold_chars": gold_chars,
        "clear_share": clear / gold_chars if gold_chars else 0.0,
        "decoys_flagged": dict(sc["flagged"]),
        "other_types": dict(sc["other"]),
    }


def top_errors(
    docs: Sequence[Document], sc: dict[str, Any], limit: int = 10
) -> dict[str, list[dict[str, Any]]]:
    """The most common false positives and negatives, grouped by shape and context."""
    fp_groups: dict[tuple[str, ...], list[tuple[int, int, int]]] = {}
    for i, s, e, t in sc["fps"]:
        text = docs[i].text
        key = (t, _shape(text[s:e]), _word_before(text, s))
        fp_groups.setdefault(key, []).append((i, s, e))
    fn_groups: dict[tuple[str, ...], list[tuple[int, int, int]]] = {}
    for i, s, e, t, how in sc["fns"]:
        text = docs[i].text
        key = (t, _shape(text[s:e]), _word_before(text, s), how)
        fn_groups.setdefault(key, []).append((i, s, e))

    def top(groups: dict[tuple[str, ...], list[tuple[int, int, int]]]) -> list[dict[str, Any]]:
        ranked = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:limit]
        out = []
        for key, hits in ranked:
            i, s, e = hits[0]
            out.append(
                {
                    "count": len(hits),
                    "type": key[0],
                    "shape": key[1],
                    "word_before": key[2],
                    **({"outcome": key[3]} if len(key) > 3 else {}),
                    "example": _snippet(docs[i].text, s, e),
                    "examples": [docs[j].text[a:b] for j, a, b in hits[:3]],
                }
            )
        return out

    return {
        "false_positives": top(fp_groups),
        "false_negatives": top(fn_groups),
        "false_positives_total": len(sc["fps"]),
        "false_negatives_total": len(sc["fns"]),
    }


# --------------------------------------------------------------------------------------
# Output


def _f1_above(ours: float | None, theirs: float | None) -> bool:
    """Above Presidio's F1, or both perfect (nothing is above 1)."""
    a, b = round(ours or 0.0, 6), round(theirs or 0.0, 6)
    return a > b or a == b == 1.0


def _f(x: float | None) -> str:
    return "    -" if x is None else f"{x:5.3f}"


def _pct(part: int, whole: int) -> str:
    return "     -" if not whole else f"{100 * part / whole:5.2f}%"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--docs", type=int, default=DOCS, help="documents in the corpus")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--repeat", type=int, default=3, help="timed passes per side (best)")
    parser.add_argument(
        "--only", choices=("both", "civiccrm", "presidio"), default="both", help="sides to run"
    )
    parser.add_argument(
        "--errors", action="store_true", help="list civiccrm's top false positives/negatives"
    )
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    parser.add_argument(
        "--corpus",
        choices=tuple(CORPORA),
        default="templates",
        help="the labelled corpus: the tuned-on templates, or the blind one",
    )
    args = parser.parse_args(argv)
    n, repeat = args.docs, max(1, args.repeat)
    ours_on = args.only in ("both", "civiccrm")
    theirs_on = args.only in ("both", "presidio")

    load_start = os.getloadavg()[0]
    log(f"load average (1 min) {load_start:.2f}; building the detectors ...")
    setup: dict[str, float] = {}
    analyzer = engine = None
    recognizers: list[Any] = []
    if ours_on:
        setup["civiccrm"], analyzer = timed(load_civiccrm)
    if theirs_on:
        setup["presidio"], (engine, recognizers) = timed(load_presidio)

    corpus_file, generate = CORPORA[args.corpus]
    log(f"generating {n:,} documents ({args.corpus} corpus, seed {args.seed}) ...")
    corpus_s, docs = timed(lambda: generate(n, args.seed))
    texts = [d.text for d in docs]
    known = [known_entities(d) for d in docs]
    chars = sum(len(t) for t in texts)

    runners: dict[str, Callable[[Sequence[str], Sequence[KnownEntities]], list[Any]]] = {}
    if analyzer is not None:
        a = analyzer
        runners["civiccrm"] = lambda ts, ks: run_civiccrm(a, ts)
        runners["known"] = lambda ts, ks: run_known(a, ts, ks)
    if engine is not None:
        e, rs = engine, recognizers
        runners["presidio"] = lambda ts, ks: run_presidio(e, ts)
        runners["presidio_direct"] = lambda ts, ks: run_presidio_direct(rs, ts)

    log("warming up ...")
    for run in runners.values():
        run(texts[:WARMUP_DOCS], known[:WARMUP_DOCS])
    times: dict[str, list[float]] = {side: [] for side in runners}
    raw: dict[str, list[Any]] = {}
    gc.freeze()
    for r in range(repeat):
        order = list(runners) if r % 2 == 0 else list(reversed(runners))
        for side in order:
            seconds, got = timed(lambda run=runners[side]: run(texts, known))
            if side in ("civiccrm", "known"):
                got = [civiccrm_preds(f) for f in got]
                if side in raw and got != raw[side]:
                    raise SystemExit(f"{side} found different things from one pass to the next")
            raw.setdefault(side, got)
            times[side].append(seconds)
            log(
                f"  run {r + 1}/{repeat} {side:<16} {seconds:8.3f} s  {chars / seconds:>12,.0f} chars/s"
            )
    gc.unfreeze()
    best = {side: min(t) for side, t in times.items()}
    rate = {side: chars / s for side, s in best.items()}

    preds: dict[str, list[list[Pred]]] = {}
    if "civiccrm" in raw:
        preds["civiccrm"] = raw["civiccrm"]
        preds["known"] = raw["known"]
    direct_differs = 0
    if "presidio" in raw:
        preds["presidio"] = [presidio_preds(res) for res in raw["presidio"]]
        direct = [presidio_preds(res) for res in raw["presidio_direct"]]
        direct_differs = sum(
            1 for a_, b_ in zip(direct, preds["presidio"], strict=True) if a_ != b_
        )
    presidio_detects = frozenset(
        PRESIDIO_TYPES[ent]
        for rec in recognizers
        for ent in rec.supported_entities
        if ent in PRESIDIO_TYPES
    )
    detects = {
        "civiccrm": frozenset(TYPES),
        "known": frozenset(TYPES),
        "presidio": presidio_detects,
    }
    scores = {side: score(docs, p) for side, p in preds.items()}
    shared = presidio_detects if "presidio" in scores else frozenset(TYPES)
    figures = {side: metrics(sc, detects[side], shared) for side, sc in scores.items()}
    errors_of = [s for s in ("civiccrm", "known") if s in scores] or ["presidio"]
    errors = {s: top_errors(docs, scores[s]) for s in errors_of} if args.errors else None
    load_end = os.getloadavg()[0]

    # -- targets -------------------------------------------------------------------------
    theirs_best = max(
        (s for s in ("presidio", "presidio_direct") if s in rate),
        key=rate.__getitem__,
        default=None,
    )
    goals: dict[str, Any] = {}
    if "civiccrm" in figures:
        ours = figures["civiccrm"]
        for t, minimum in TARGET_F1.items():
            f1 = ours["types"][t]["f1"]
            goals[f"{t.lower()}_f1_min"] = minimum
            goals[f"{t.lower()}_f1_met"] = f1 is not None and f1 > minimum
        goals["clear_share_max"] = TARGET_CLEAR
        goals["clear_share_met"] = ours["clear_share"] < TARGET_CLEAR
    if "civiccrm" in figures and "presidio" in figures:
        ratio = rate["civiccrm"] / rate[theirs_best] if theirs_best else None
        goals["civiccrm_over_presidio_min"] = TARGET_RATIO
        goals["civiccrm_over_presidio"] = round(ratio, 2) if ratio else None
        goals["civiccrm_over_presidio_met"] = ratio is not None and ratio >= TARGET_RATIO
        behind = [
            t
            for t in sorted(presidio_detects)
            if not _f1_above(
                figures["civiccrm"]["types"][t]["f1"], figures["presidio"]["types"][t]["f1"]
            )
        ]
        goals["f1_above_presidio_on_shared_types_met"] = not behind
        goals["f1_not_above_presidio"] = behind

    versions = {
        "python": platform.python_version(),
        "civiccrm": civiccrm.__version__,
        "presidio-analyzer": _version("presidio-analyzer"),
        "faker": _version("faker"),
        "phonenumbers": _version("phonenumbers"),
    }
    kinds = Counter(d.kind for d in docs)
    gold_types = Counter(s.type for d in docs for s in d.spans)
    decoy_kinds = Counter(x.kind for d in docs for x in d.decoys)
    gold_chars = Counter()
    for d in docs:
        for g in d.spans:
            gold_chars[g.type] += g.end - g.start

    # -- report ----------------------------------------------------------------------------
    title = f"PII detection: civiccrm against Presidio, {n:,} labelled documents"
    print(title)
    print("=" * len(title))
    print(
        f"python {versions['python']}, civiccrm {versions['civiccrm']}, presidio-analyzer "
        f"{versions['presidio-analyzer']} (no-op NLP engine, default threshold 0), Faker "
        f"{versions['faker']}, phonenumbers {versions['phonenumbers']}; {_cpu_count()} CPUs, "
        f"best of {repeat} pass(es)"
    )
    print(
        f"load average (1 min) {load_start:.2f} at start, {load_end:.2f} at end "
        "(other work on the machine shows here)"
    )
    if recognizers:
        print("Presidio recognizers: " + ", ".join(r.name for r in recognizers))
    print()
    print(
        f"corpus: {args.corpus} ({corpus_file}), {n:,} documents "
        f"(seed {args.seed}, built in {corpus_s:.1f} s), "
        f"{chars:,} characters; " + ", ".join(f"{k} {v:,}" for k, v in kinds.items())
    )
    print("  gold spans: " + ", ".join(f"{t} {gold_types[t]:,}" for t in TYPES))
    print("  decoys: " + ", ".join(f"{k} {v:,}" for k, v in decoy_kinds.most_common()))
    print()

    sides = [s for s in SIDES if s in figures]
    head = f"{'':<15}{'gold':>6} |" + "".join(f" {LABELS[s]:^19} |" for s in sides)
    print(head)
    print(
        f"{'type':<15}{'spans':>6} |" + " {:>5}  {:>5}  {:>5} |".format("P", "R", "F1") * len(sides)
    )
    print("-" * len(head))
    for t in TYPES:
        cells = []
        for s in sides:
            row = figures[s]["types"][t]
            cells.append(f" {_f(row['precision'])}  {_f(row['recall'])}  {_f(row['f1'])} |")
        print(f"{t:<15}{gold_types[t]:>6,} |" + "".join(cells))
    print("-" * len(head))
    for name, label in (("shared", "shared, micro"), ("all", "all, micro")):
        if name == "shared" and "presidio" not in figures:
            continue
        cells = []
        for s in sides:
            m = figures[s]["micro"][name]
            cells.append(f" {_f(m['precision'])}  {_f(m['recall'])}  {_f(m['f1'])} |")
        count = sum(gold_types[t] for t in (shared if name == "shared" else TYPES))
        print(f"{label:<15}{count:>6,} |" + "".join(cells))
    if "presidio" in figures:
        print(
            f"  shared: the {len(presidio_detects)} types Presidio detects offline; Presidio's "
            "DATE_OF_BIRTH is its DATE_TIME (every date it finds)"
        )
    print()

    print("personal-data characters left in clear (covered by no finding of any type)")
    print(f"{'type':<15}{'chars':>8} |" + "".join(f" {LABELS[s]:>17}" for s in sides))
    for t in TYPES:
        cells = "".join(
            f" {_pct(figures[s]['types'][t]['clear_chars'], figures[s]['types'][t]['gold_chars']):>17}"
            for s in sides
        )
        print(f"{t:<15}{gold_chars[t]:>8,} |{cells}")
    print(
        f"{'all':<15}{sum(gold_chars.values()):>8,} |"
        + "".join(
            f" {_pct(figures[s]['clear_chars'], figures[s]['gold_chars']):>17}" for s in sides
        )
    )
    print()

    print("decoys flagged (any finding overlapping them)")
    print(f"{'decoy':<26}{'count':>7} |" + "".join(f" {LABELS[s]:>17}" for s in sides))
    for kind, count in decoy_kinds.most_common():
        print(
            f"{kind:<26}{count:>7,} |"
            + "".join(f" {figures[s]['decoys_flagged'].get(kind, 0):>17,}" for s in sides)
        )
    if "presidio" in figures and figures["presidio"]["other_types"]:
        other = figures["presidio"]["other_types"]
        print(
            "Presidio's findings of types outside ours (they cover text, count in no row): "
            + ", ".join(f"{t} {c:,}" for t, c in sorted(other.items(), key=lambda kv: -kv[1]))
        )
    print()

    print(f"{'throughput (best pass)':<40}{'seconds':>9}{'docs/s':>10}{'chars/s':>13}")
    for side in TIMED:
        if side in best:
            print(
                f"{TIMED_LABELS[side]:<40}{best[side]:>9.3f}{n / best[side]:>10,.0f}{rate[side]:>13,.0f}"
            )
    if "presidio" in rate:
        print(
            f"  Presidio called directly gives the same findings as the engine on "
            f"{n - direct_differs:,} of {n:,} documents"
        )
    if setup:
        print(
            "  setup (informational): "
            + ", ".join(f"{LABELS[s]} {v:.2f} s" for s, v in setup.items())
        )
    if "civiccrm_over_presidio" in goals:
        ratio = goals["civiccrm_over_presidio"]
        print(
            f"civiccrm / Presidio ({'engine' if theirs_best == 'presidio' else 'called directly'}"
            f", the faster): {ratio:.1f}x; with known entities "
            f"{rate['known'] / rate[theirs_best]:.1f}x"
        )
    print()

    if goals:
        print("targets")

        def line(label: str, met: bool) -> None:
            print(f"  {label:<64} {'met' if met else 'MISSED'}")

        if "civiccrm_over_presidio_met" in goals:
            line(
                f"throughput >= {TARGET_RATIO:.0f}x Presidio's: {goals['civiccrm_over_presidio']:.1f}x",
                goals["civiccrm_over_presidio_met"],
            )
            behind = goals["f1_not_above_presidio"]
            line(
                "F1 above Presidio's on every type both detect (ties at 1 count)",
                goals["f1_above_presidio_on_shared_types_met"],
            )
            if behind:
                print(f"    not above on: {', '.join(behind)}")
        for t, minimum in TARGET_F1.items():
            f1 = figures["civiccrm"]["types"][t]["f1"]
            line(f"{t} F1 > {minimum}: {_f(f1).strip()}", goals[f"{t.lower()}_f1_met"])
        share = figures["civiccrm"]["clear_share"]
        line(
            f"personal-data characters left in clear < {100 * TARGET_CLEAR:.1f} %: "
            f"{100 * share:.2f} %",
            goals["clear_share_met"],
        )
        print()

    if errors is not None:
        for side, errs in errors.items():
            for kind, label in (
                ("false_positives", "false positives"),
                ("false_negatives", "false negatives"),
            ):
                print(
                    f"{LABELS[side]}: top {len(errs[kind])} {label} of "
                    f"{errs[kind + '_total']:,} (grouped by type, shape, word before)"
                )
                for g in errs[kind]:
                    outcome = f", {g['outcome']}" if "outcome" in g else ""
                    print(
                        f"  {g['count']:>5,}  {g['type']:<14} {g['shape']!r} "
                        f"after {g['word_before']!r}{outcome}"
                    )
                    print(f"         e.g. {g['example']}")
                print()

    if args.json:
        print(
            json.dumps(
                {
                    "benchmark": "redaction",
                    "docs": n,
                    "seed": args.seed,
                    "repeat": repeat,
                    "only": args.only,
                    "corpus_name": args.corpus,
                    "cpus": _cpu_count(),
                    "versions": versions,
                    "load_average": [round(load_start, 2), round(load_end, 2)],
                    "corpus": {
                        "chars": chars,
                        "kinds": dict(kinds),
                        "gold_spans": dict(gold_types),
                        "decoys": dict(decoy_kinds),
                        "seconds": round(corpus_s, 3),
                    },
                    "match_rule": "same type, overlap >= 50% of the gold span's length",
                    "presidio_recognizers": [r.name for r in recognizers],
                    "presidio_threshold": 0,
                    "presidio_direct_differs_docs": direct_differs,
                    "setup_seconds": {k: round(v, 3) for k, v in setup.items()},
                    "seconds": {k: round(v, 4) for k, v in best.items()},
                    "runs": {k: [round(x, 4) for x in v] for k, v in times.items()},
                    "chars_per_second": {k: round(v) for k, v in rate.items()},
                    "results": figures,
                    "goals": goals,
                    **({"errors": errors} if errors is not None else {}),
                },
                sort_keys=True,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
