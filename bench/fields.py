"""Invoice and receipt fields on real documents: accuracy per field and language, calibration.

    python -m bench.fields                    # the held-out documents (the goal figures)
    python -m bench.fields --split tune       # the documents the extractor was tuned on
    python -m bench.fields --fit              # fit the confidence curves on the tune split
    python -m bench.fields --misses           # also print every wrong or missing field

The documents and their ground truth are ``bench/fields_data`` (real invoices and receipts
from public sources; its README says which). Each document goes through the same path as an
``invoice.extract`` robot: ``OcrEngine.process`` then ``runtime.ocr.modules.invoice_answer``.

A field is right when it equals the truth after normalising: the invoice number without
spaces and case, the date as ISO, amounts as decimals, the currency as its ISO code, and the
vendor when RapidFuzz's ratio of the two names (case, accents and punctuation folded) is at
least 90 (an OCR slip in a long name still counts; another name does not). A field the truth
has and the extractor did not return counts as wrong.

The goals: >= 90% of fields right overall and >= 80% per field on >= 60 held-out
documents in >= 4 languages; of fields returned with confidence >= 0.9, >= 95% right.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from rapidfuzz import fuzz

from bench.report import RESULTS_DIR
from runtime.ocr.calibration import CALIBRATION_FILE, SURE
from runtime.ocr.invoice import FIELDS
from runtime.ocr.vocabulary import fold

DATA = Path(__file__).with_name("fields_data")
VENDOR_MATCH = 90.0
GOALS = {
    "overall": 0.90,
    "per_field": 0.80,
    "sure_precision": 0.95,
    "documents": 60,
    "languages": 4,
}
BINS = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 1.01)


@dataclass
class Outcome:
    """One document's fields against its truth."""

    id: str
    language: str
    kind: str
    media: str
    # field -> (right, confidence, got, want); only fields the truth has
    fields: dict[str, tuple[bool, float, str | None, str]] = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None


def _name(text: str) -> str:
    # Spaces and punctuation are where OCR slips most ("BOOKTA_K(TAMANDAYA)SDNBHD"): compare
    # the letters and digits alone.
    return re.sub(r"[^0-9a-z]+", "", fold(text))


_LEGAL_FORM = re.compile(
    r"[\s,]+(?:gmbh(?:\s*&\s*co\.?\s*kg)?|ag|kg|sarl|sas|sa|s\.a\.?|s\.l\.?|sl|b\.v\.?|bv|"
    r"n\.v\.?|ltd\.?|limited|inc\.?|llc|plc|s\.r\.l\.?|srl|s\.p\.a\.?|lda\.?|"
    r"sdn\.?\s*bhd\.?)\s*$",
    re.I,
)


_GLUED_FORM = re.compile(
    r"(?:sdnbhd|bhd|gmbhcokg|gmbh|sarl|sas|bv|nv|ltd|limited|inc|llc|plc|srl|spa|lda)$"
)


def _bare(name: str) -> str:
    """A name without its legal form ("Au bon moulin SARL" -> "Au bon moulin"), also when
    OCR glued it on ("MR.D.I.Y.(M)SDN BHD")."""
    stripped = _LEGAL_FORM.sub("", name.strip()) or name
    letters = _name(stripped)
    return _GLUED_FORM.sub("", letters) or letters


def _amount(text: str | None) -> Decimal | None:
    try:
        return Decimal(str(text)).quantize(Decimal("0.01")) if text is not None else None
    except InvalidOperation:
        return None


def is_right(name: str, got: str | None, want: str, accept: list[str] | None = None) -> bool:
    """Whether an extracted value matches the truth (or one of the other printed forms the
    truth's ``accept`` lists), by the rules in this module's docstring."""
    if got is None:
        return False
    if accept and any(is_right(name, got, other) for other in accept):
        return True
    if name == "vendor":
        a, b = _name(_bare(got)), _name(_bare(want))
        short, long = sorted((a, b), key=len)
        # A branch or department after the name ("Marktkauf Lehr") is still the vendor.
        prefix = len(short) >= 5 and long.startswith(short) and len(short) >= 0.6 * len(long)
        return prefix or fuzz.ratio(a, b) >= VENDOR_MATCH
    if name in ("total", "tax"):
        return _amount(got) is not None and _amount(got) == _amount(want)
    if name == "invoice_number":
        return re.sub(r"\s+", "", got).upper() == re.sub(r"\s+", "", want).upper()
    return got == want


def load(split: str, data: Path = DATA) -> list[dict[str, Any]]:
    """The truth entries of ``split`` ("held", "tune" or "all"), their files made absolute.

    The documents are not in git (they are third-party files): when any is missing or its
    bytes differ from its pinned sha256, they are rebuilt from the public sources' mirrors by
    the set's ``build.py`` (``$FIELDS_MIRRORS``).
    Raises SystemExit with what to do when that is not possible.
    """
    entries: list[dict[str, Any]] = json.loads((data / "truth.json").read_text())
    if any(not _intact(data, e) for e in entries):
        build = data / "build.py"
        print(
            f"documents missing or changed under {data}; rebuilding them with {build}", flush=True
        )
        done = subprocess.run([sys.executable, str(build)], check=False)
        if done.returncode != 0 or any(not _intact(data, e) for e in entries):
            readme = (
                data / "README.md" if (data / "README.md").exists() else data.parent / "README.md"
            )
            raise SystemExit(
                "the documents are not here and could not be rebuilt: set "
                f"FIELDS_MIRRORS to a folder of the sources' git mirrors (see {readme}) or "
                f"copy the documents into {data / 'documents'}"
            )
    for entry in entries:
        entry["path"] = str(data / entry["file"])
    return [e for e in entries if split == "all" or e["split"] == split]


def _intact(data: Path, entry: dict[str, Any]) -> bool:
    """Whether ``entry``'s document is there with the bytes its ``sha256`` pins (when it pins
    them): a truncated or swapped copy would be scored as a different document."""
    path = data / entry["file"]
    if not path.is_file():
        return False
    return "sha256" not in entry or hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]


def _ocr(engine: Any, data: bytes, cache: Path | None) -> Any:
    from runtime.ocr.documents import document_id
    from runtime.ocr.results import OcrResult

    if cache is None:
        return engine.process(data)
    path = cache / f"{document_id(data)}.json"
    if path.exists():
        return OcrResult.model_validate_json(path.read_text())
    result = engine.process(data)
    cache.mkdir(parents=True, exist_ok=True)
    path.write_text(result.model_dump_json())
    return result


def evaluate(entries: list[dict[str, Any]], cache: Path | None, threads: int = 2) -> list[Outcome]:
    """Run every document through OCR and ``invoice_answer``; score each annotated field."""
    from runtime.ocr.modules import invoice_answer
    from runtime.ocr.pipeline import OcrEngine

    engine = OcrEngine()

    def one(entry: dict[str, Any]) -> Outcome:
        outcome = Outcome(entry["id"], entry["language"], entry["kind"], entry["media"])
        started = time.perf_counter()
        try:
            result = _ocr(engine, Path(entry["path"]).read_bytes(), cache)
            answer = invoice_answer(result)
        except Exception as exc:  # a document that fails counts every field wrong
            outcome.error = f"{type(exc).__name__}: {exc}"
            answer = {"fields": {}}
        outcome.seconds = time.perf_counter() - started
        for name in FIELDS:
            want = entry["fields"].get(name)
            if want is None:
                continue
            got = answer["fields"].get(name, {})
            value, confidence = got.get("value"), float(got.get("confidence", 0.0))
            accept = entry.get("accept", {}).get(name)
            outcome.fields[name] = (is_right(name, value, want, accept), confidence, value, want)
        return outcome

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(one, entries))


def _share(rights: list[bool]) -> str:
    return f"{sum(rights) / len(rights):.1%} ({sum(rights)}/{len(rights)})" if rights else "-"


def report(outcomes: list[Outcome], split: str, misses: bool) -> dict[str, Any]:
    """Print per-field accuracy per language, the calibration table and the goals; return them."""
    languages = sorted({o.language for o in outcomes})
    print(f"\n## Invoice fields on real documents ({split}: {len(outcomes)} documents)\n")
    kinds = {k: sum(o.kind == k for o in outcomes) for k in ("invoice", "receipt")}
    media = {m: sum(o.media == m for o in outcomes) for m in ("pdf", "image")}
    counts = ", ".join(f"{lang} {sum(o.language == lang for o in outcomes)}" for lang in languages)
    print(f"languages {counts}; kinds {kinds}; media {media}\n")
    header = "| field | " + " | ".join(languages) + " | all |"
    print(header)
    print("|" + " --- |" * (len(languages) + 2))
    per_field: dict[str, float] = {}
    every: list[bool] = []
    for name in FIELDS:
        cells = []
        for lang in languages:
            rights = [
                o.fields[name][0] for o in outcomes if o.language == lang and name in o.fields
            ]
            cells.append(_share(rights))
        rights = [o.fields[name][0] for o in outcomes if name in o.fields]
        every += rights
        if rights:
            per_field[name] = sum(rights) / len(rights)
        print(f"| {name} | " + " | ".join(cells) + f" | {_share(rights)} |")
    overall_cells = []
    for lang in languages:
        rights = [r for o in outcomes if o.language == lang for r, *_ in o.fields.values()]
        overall_cells.append(_share(rights))
    print("| **all fields** | " + " | ".join(overall_cells) + f" | **{_share(every)}** |")

    print("\n### Calibration: how often a field is right, by the confidence it came with\n")
    print("| confidence | fields | right |")
    print("| --- | ---: | ---: |")
    returned = [(c, r) for o in outcomes for r, c, got, _ in o.fields.values() if got is not None]
    for low, high in zip(BINS, BINS[1:], strict=False):
        inside = [r for c, r in returned if low <= c < high]
        print(f"| {low:.2f}–{min(high, 1.0):.2f} | {len(inside)} | {_share(inside)} |")
    sure = [r for c, r in returned if c >= SURE]
    print(f"| **>= {SURE}** | {len(sure)} | **{_share(sure)}** |")
    print(f"\nfields returned {len(returned)} of {len(every)}; sure {len(sure)}")

    errors = [o for o in outcomes if o.error]
    for o in errors:
        print(f"error: {o.id}: {o.error}")
    overall = sum(every) / len(every) if every else 0.0
    precision = sum(sure) / len(sure) if sure else 0.0
    goals = [
        (
            "documents",
            len(outcomes),
            f">= {GOALS['documents']}",
            len(outcomes) >= GOALS["documents"],
        ),
        (
            "languages",
            len(languages),
            f">= {GOALS['languages']}",
            len(languages) >= GOALS["languages"],
        ),
        ("fields right overall", f"{overall:.1%}", ">= 90%", overall >= GOALS["overall"]),
        *[
            (f"{name} right", f"{share:.1%}", ">= 80%", share >= GOALS["per_field"])
            for name, share in per_field.items()
        ],
        (
            f"right when confidence >= {SURE}",
            f"{precision:.1%}",
            ">= 95%",
            precision >= GOALS["sure_precision"],
        ),
    ]
    print("\n### Goals\n\n| goal | value | bound | met |\n| --- | ---: | --- | --- |")
    for name, value, bound, met in goals:
        print(f"| {name} | {value} | {bound} | {'yes' if met else 'no'} |")
    if misses:
        print("\n### Misses\n")
        for o in outcomes:
            for name, (right, confidence, got, want) in o.fields.items():
                if not right:
                    said = f"got {got!r} ({confidence:.2f}), want {want!r}"
                    print(f"- {o.id} [{o.language}] {name}: {said}")
    seconds = sorted(o.seconds for o in outcomes)
    if seconds:
        print(f"\nper document: median {seconds[len(seconds) // 2]:.2f} s, max {seconds[-1]:.2f} s")
    return {
        "split": split,
        "documents": len(outcomes),
        "languages": languages,
        "overall": overall,
        "per_field": per_field,
        "sure_precision": precision,
        "sure_count": len(sure),
        "met": all(met for *_, met in goals),
    }


def curve(pairs: list[tuple[float, bool]], per_bin: int = 20) -> list[list[float]]:
    """A monotone map from raw score to the chance of being right, from (score, right) pairs.

    The pairs are cut into bins of ``per_bin`` by score; each bin's chance is Laplace-smoothed,
    (right + 1) / (n + 2), so a small bin that was always right says 0.95, not 1.0; adjacent
    bins are pooled until the chances rise with the score (pool-adjacent-violators). Returns
    ``[[mean score, chance], ...]`` points.
    """
    ordered = sorted(pairs)
    bins: list[list[float]] = []  # [sum of scores, right, n]
    for start in range(0, len(ordered), per_bin):
        chunk = ordered[start : start + per_bin]
        if bins and len(chunk) < per_bin // 2:
            bins[-1][0] += sum(x for x, _ in chunk)
            bins[-1][1] += sum(1 for _, y in chunk if y)
            bins[-1][2] += len(chunk)
            continue
        bins.append([sum(x for x, _ in chunk), sum(1 for _, y in chunk if y), len(chunk)])

    def chance(b: list[float]) -> float:
        return (b[1] + 1) / (b[2] + 2)

    merged = True
    while merged:
        merged = False
        for i in range(len(bins) - 1):
            if chance(bins[i]) > chance(bins[i + 1]):
                bins[i] = [a + b for a, b in zip(bins[i], bins[i + 1], strict=True)]
                del bins[i + 1]
                merged = True
                break
    return [[round(b[0] / b[2], 4), round(chance(b), 4)] for b in bins]


def fit(outcomes: list[Outcome]) -> dict[str, list[list[float]]]:
    """Fit :func:`curve` per field on raw scores (no curves loaded) and write the file."""
    curves: dict[str, list[list[float]]] = {}
    for name in FIELDS:
        pairs = [
            (o.fields[name][1], o.fields[name][0])
            for o in outcomes
            if name in o.fields and o.fields[name][2] is not None
        ]
        if len(pairs) >= 20:
            curves[name] = curve(pairs)
    document = {"fitted_on": "bench/fields_data tune split", "curves": curves}
    CALIBRATION_FILE.write_text(json.dumps(document, indent=1) + "\n")
    return curves


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns 0 (the goals are printed met or not, never raised)."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.fields", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--split", choices=("held", "tune", "all"), default="held")
    parser.add_argument(
        "--fit", action="store_true", help="fit the confidence curves on the tune split"
    )
    parser.add_argument("--misses", action="store_true", help="print every wrong or missing field")
    parser.add_argument(
        "--ocr-cache", type=Path, help="keep OCR results here between runs (tuning)"
    )
    parser.add_argument("--data", type=Path, default=DATA, help="documents and truth.json")
    parser.add_argument("--threads", type=_positive_int, default=2)
    parser.add_argument(
        "--out",
        type=Path,
        default=RESULTS_DIR / "fields",
        help="write the report to OUT.md and the figures to OUT.json (default "
        "bench/results/fields; the evaluation set's held-out split only)",
    )
    args = parser.parse_args(argv)
    if not (args.data / "truth.json").is_file():
        parser.error(f"--data {args.data}: no truth.json there (the default is {DATA})")
    goal_set = args.data.resolve() == DATA.resolve()
    if args.fit and not goal_set:
        parser.error(
            "--fit fits the shipped confidence curves on the evaluation set's tune split "
            "only; leave out --data"
        )
    splits = {e.get("split") for e in json.loads((args.data / "truth.json").read_text())}
    if args.split != "all" and args.split not in splits:
        parser.error(
            f"--data {args.data} has no {args.split!r} documents (its splits: "
            f"{', '.join(sorted(map(str, splits)))}); dev sets take --split all"
        )
    if args.split == "held" and not args.fit and not _writable(args.out):
        parser.error(f"--out {args.out}: cannot write {args.out.with_suffix('.md')}")
    if args.fit:
        from runtime.ocr import calibration

        if CALIBRATION_FILE.exists():
            CALIBRATION_FILE.unlink()
        calibration.curves.cache_clear()
        outcomes = evaluate(load("tune", args.data), args.ocr_cache, args.threads)
        curves = fit(outcomes)
        calibration.curves.cache_clear()
        print(
            f"fitted {len(curves)} curves on {len(outcomes)} tune documents -> {CALIBRATION_FILE}"
        )
        return 0
    outcomes = evaluate(load(args.split, args.data), args.ocr_cache, args.threads)
    printed = io.StringIO()
    with contextlib.redirect_stdout(_Tee(sys.stdout, printed)):
        figures = report(outcomes, args.split, args.misses)
    if args.split == "held" and not args.misses and goal_set:
        args.out.with_suffix(".md").write_text(printed.getvalue().lstrip("\n"))
        args.out.with_suffix(".json").write_text(json.dumps(figures, indent=1) + "\n")
        print(f"\nwritten: {args.out.with_suffix('.md')}, {args.out.with_suffix('.json')}")
    return 0


def _positive_int(text: str) -> int:
    """argparse type: ``text`` as an int of at least 1; raises ArgumentTypeError otherwise."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def _writable(out: Path) -> bool:
    """Whether the report ``out``.md can be written, checked before minutes of OCR by opening
    it for appending (a file this creates is removed again)."""
    report_file = out.with_suffix(".md")
    existed = report_file.exists()
    try:
        with report_file.open("a"):
            pass
    except OSError:
        return False
    if not existed:
        report_file.unlink()
    return True


class _Tee(io.TextIOBase):
    """Writes to several streams at once: the terminal and the report kept on disk."""

    def __init__(self, *streams: Any) -> None:
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
        return len(text)


if __name__ == "__main__":
    sys.exit(main())
