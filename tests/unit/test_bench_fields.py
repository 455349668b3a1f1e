"""bench.fields' scoring rules and calibration curve, on small inputs."""

from __future__ import annotations

import hashlib
import json

import pytest

from bench.fields import curve, is_right, load, main


def test_vendor_names_match_without_legal_form_spaces_or_case():
    assert is_right("vendor", "Au bon moulin SARL", "Au bon moulin")
    assert is_right("vendor", "BOOKTA_K(TAMANDAYA)SDNBHD", "BOOK TA .K (TAMAN DAYA) SDN BHD")
    assert is_right("vendor", "Marktkauf Lehr", "Marktkauf")  # a branch after the name
    assert not is_right("vendor", "Kunden AG Mitte", "Lieferant GmbH")
    assert not is_right("vendor", "Free Service Abonné", "Free")  # too short a prefix
    assert not is_right("vendor", None, "Acme")


def test_other_fields_and_accepted_forms():
    assert is_right("total", "1190.00", "1190.0")
    assert not is_right("total", "1190.01", "1190.00")
    assert is_right("invoice_number", "25-11.474", "25 - 11.474")
    assert is_right("date", "2024-03-05", "2024-03-05")
    assert is_right("vendor", "DISTRIBUCION SUPERMERCADOS, SL", "BM SUPERMERCADOS",
                    ["DISTRIBUCION SUPERMERCADOS, SL"])  # fmt: skip


def test_the_curve_rises_with_the_score_and_never_claims_certainty():
    pairs = [(i / 100, i >= 30) for i in range(100)] + [(0.95, False)]
    points = curve(pairs, per_bin=20)
    chances = [chance for _, chance in points]
    assert chances == sorted(chances)
    assert max(chances) < 1.0  # 20 of 20 right says (20 + 1) / (20 + 2), not 1.0
    assert points[0][1] < 0.5


@pytest.mark.parametrize(
    "argv",
    [
        ["--threads", "0"],
        ["--threads", "-1"],
        ["--data", "/nonexistent"],
        ["--out", "/proc/forbidden"],
        ["--out", "/nonexistent/dir/fields"],
    ],
)
def test_bad_arguments_are_a_usage_error_before_any_work(argv, capsys):
    """Bad arguments exit 2 with argparse's message, before any document is read."""
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert argv[0] in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--data", "bench/fields_dev/es2"], "dev sets take --split all"),
        (["--data", "bench/fields_dev/es2", "--fit"], "leave out --data"),
    ],
)
def test_a_dev_set_neither_overwrites_the_goal_report_nor_refits_the_curves(argv, says, capsys):
    """A dev set has no held-out split and no say in the shipped calibration: exit 2 early."""
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert says in capsys.readouterr().err


def test_a_document_with_other_bytes_than_its_pinned_sha256_is_rebuilt(tmp_path, capsys):
    """A truncated copy is not scored: ``load`` runs the set's build.py, which restores it."""
    good = b"%PDF-1.4 the right bytes"
    entry = {
        "id": "doc",
        "file": "documents/doc.pdf",
        "sha256": hashlib.sha256(good).hexdigest(),
        "split": "tune",
    }
    (tmp_path / "truth.json").write_text(json.dumps([entry]))
    (tmp_path / "documents").mkdir()
    (tmp_path / "documents" / "doc.pdf").write_bytes(good[:5])
    (tmp_path / "build.py").write_text(
        "from pathlib import Path\n"
        f"(Path(__file__).parent / 'documents' / 'doc.pdf').write_bytes({good!r})\n"
    )
    loaded = load("tune", tmp_path)
    assert [e["id"] for e in loaded] == ["doc"]
    assert (tmp_path / "documents" / "doc.pdf").read_bytes() == good
    assert "missing or changed" in capsys.readouterr().out
