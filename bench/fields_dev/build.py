"""Rebuild the field-extraction dev sets' ``documents/`` from the public sources' git mirrors.

Run from anywhere (the repository root is found from this file)::

    python bench/fields_dev/build.py               # every set: facturx, es, es2, sroie, nl
    python bench/fields_dev/build.py --set es      # one set
    python bench/fields_dev/build.py --check       # only verify what is already there

Each ``<set>/truth.json`` entry names its document's ``source`` (repo, path, commit) and its
``sha256``. The document is ``git show <commit>:<path>`` of the repository's mirror
(``$FIELDS_MIRRORS``, default ``/work/.mirror``, one ``owner+name/repo`` folder per repository,
as for ``bench/fields_data``), written byte for byte to ``<set>/<file>`` only when its sha256
matches. Documents already present with the right sha256 are left alone, so no mirror is needed
for them. Exits 1 when anything is missing or differs, listing the mirrors that are absent.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
if str(ROOT) not in sys.path:  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(ROOT))

from bench.fields_data.build import (  # noqa: E402
    MIRRORS,
    _entry_problems,
    _repo_dir,
    git_show,
)

SETS = ("facturx", "es", "es2", "sroie", "nl")

Entry = dict[str, Any]


def load_truth(name: str) -> list[Entry]:
    """The truth.json entries of dev set ``name``."""
    entries: list[Entry] = json.loads((HERE / name / "truth.json").read_text())
    return entries


def entry_problems(entry: Entry) -> list[str]:
    """What is wrong with one truth entry's schema (the evaluation set's checks, plus dev rules).

    A dev-set entry must be split "tune", keep its file under ``documents/`` and pin its bytes
    with a sha256; its source must name repo, path and a 40-hex commit.
    """
    out = [p for p in _entry_problems(entry) if not p.startswith("split ")]
    if entry.get("split") != "tune":
        out.append(f"split {entry.get('split')!r} (dev sets are tune only)")
    if not str(entry.get("file", "")).startswith("documents/"):
        out.append(f"file {entry.get('file')!r} not under documents/")
    if not re.fullmatch(r"[0-9a-f]{64}", str(entry.get("sha256", ""))):
        out.append("sha256 missing or malformed")
    return out


def has_document(name: str, entry: Entry) -> bool:
    """True when the set's copy of ``entry``'s document exists with the pinned sha256."""
    target = HERE / name / entry["file"]
    return target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == entry["sha256"]


def build_set(name: str, check_only: bool = False) -> tuple[list[str], set[str]]:
    """Copy (or with ``check_only`` just verify) every document of set ``name``.

    Returns the problems found and the repositories whose mirror was needed but is absent.
    Prints one line of counts for the set.
    """
    entries = load_truth(name)
    problems: list[str] = []
    absent: set[str] = set()
    ids = Counter(e["id"] for e in entries)
    problems += [f"{name}: duplicate id {i}" for i, n in ids.items() if n > 1]
    copied = present = 0
    size = 0
    for entry in entries:
        bad = entry_problems(entry)
        if bad:
            problems += [f"{name}/{entry['id']}: {p}" for p in bad]
            continue
        target = HERE / name / entry["file"]
        if has_document(name, entry):
            present += 1
            size += target.stat().st_size
            continue
        if check_only:
            problems.append(f"{name}/{entry['id']}: {entry['file']} missing or sha256 differs")
            continue
        src = entry["source"]
        if not _repo_dir(src["repo"]).is_dir():
            absent.add(src["repo"])
            problems.append(f"{name}/{entry['id']}: no mirror of {src['repo']}")
            continue
        try:
            data = git_show(src["repo"], src["path"], src["commit"])
        except subprocess.CalledProcessError:
            problems.append(
                f"{name}/{entry['id']}: {src['path']} not found at {src['commit']} "
                f"in the mirror of {src['repo']} (a shallow or stale mirror?)"
            )
            continue
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            problems.append(f"{name}/{entry['id']}: mirror bytes differ from the pinned sha256")
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        copied += 1
        size += len(data)
    ok = copied + present
    langs = Counter(e["language"] for e in entries)
    kinds = Counter(f"{e['kind']}/{e['media']}" for e in entries)
    print(
        f"{name}: {ok}/{len(entries)} documents ok ({copied} copied, {present} already there, "
        f"{size / 1e6:.1f} MB) from {len({e['source']['repo'] for e in entries})} repositories; "
        + ", ".join(f"{k} {v}" for k, v in sorted(langs.items()))
        + "; "
        + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
    )
    return problems, absent


def main(argv: list[str] | None = None) -> int:
    """Build (or check) the chosen sets; returns 0 when every document is in place, else 1."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", choices=SETS, action="append", help="only this set (repeatable)")
    parser.add_argument("--check", action="store_true", help="verify only, copy nothing")
    args = parser.parse_args(argv)
    problems: list[str] = []
    absent: set[str] = set()
    for name in args.set or SETS:
        got, missing = build_set(name, args.check)
        problems += got
        absent |= missing
    for p in problems:
        print("PROBLEM", p)
    if absent:
        print(
            f"\nmissing git mirrors under {MIRRORS} (expected as <owner>+<name>/repo; "
            "set $FIELDS_MIRRORS to the folder that holds them):"
        )
        for repo in sorted(absent):
            print(f"  {repo}")
    if problems:
        print(
            f"\n{len(problems)} problem(s): the dev-set documents are incomplete", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
