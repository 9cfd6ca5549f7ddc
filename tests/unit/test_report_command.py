"""`orderflow report FOLDER` and `orderflow compare A B` as a user runs them: the paths they
wrote, and one clear line and exit 2 for a folder that is not a results folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from harness.cli.main import main
from tests.unit.report_documents import plain_document, scenario_document, write_folder


def test_report_writes_both_files_and_prints_their_paths(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_folder(tmp_path, plain_document())
    assert main(["report", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines() == [str(tmp_path / "report.html"), str(tmp_path / "report.md")]
    assert (tmp_path / "report.html").stat().st_size > 0


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda folder: folder / "absent", "{folder}/absent: no such results folder"),
        (lambda folder: folder, "{folder}/results.json: missing (is {folder} a results folder?)"),
    ],
    ids=["no-folder", "no-results"],
)
def test_report_of_a_folder_that_is_not_a_results_folder_exits_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    setup: Callable[[Path], Path],
    message: str,
) -> None:
    folder = setup(tmp_path)
    assert main(["report", str(folder)]) == 2
    captured = capsys.readouterr()
    assert captured.err == f"orderflow report: {message.format(folder=tmp_path)}\n"
    assert captured.out == ""


def test_report_of_invalid_results_exits_2_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "results.json").write_text("{not json")
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"orderflow report: {tmp_path / 'results.json'}: not readable JSON")
    assert err.count("\n") == 1 and "Traceback" not in err


def test_report_of_results_without_what_it_reads_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = plain_document()
    del document["run"]["command"]  # passes the first checks, fails deep in the drawing
    write_folder(tmp_path, document)
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"orderflow report: {tmp_path}: results.json lacks or garbles")
    assert "'command'" in err and err.count("\n") == 1


def test_report_it_cannot_write_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_folder(tmp_path, plain_document())
    (tmp_path / "report.html").mkdir()  # in the way even of root, unlike a read-only folder
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"orderflow report: {tmp_path}: cannot write")
    assert err.count("\n") == 1


def test_compare_it_cannot_write_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = write_folder(tmp_path / "a", scenario_document())
    b = write_folder(tmp_path / "b", scenario_document())
    (tmp_path / "taken").write_text("a file where the folder should go")
    assert main(["compare", str(a), str(b), "--out", str(tmp_path / "taken")]) == 2
    assert "cannot write" in capsys.readouterr().err


def test_compare_prints_the_changes_and_writes_both_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = write_folder(tmp_path / "naive", scenario_document())
    b = write_folder(tmp_path / "resilient", scenario_document())
    out = tmp_path / "cmp"
    assert main(["compare", str(a), str(b), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"A: {a}  (scenario payment-outage, naive profile)" in printed
    assert "warning" not in printed  # the same scenario, load and machine
    assert any(line.split()[:3] == ["rest", "orders/s", "1.4"] for line in printed.splitlines())
    assert printed.endswith(
        f"Comparison: {out / 'compare.html'}\n            {out / 'compare.md'}\n"
    )
    assert (
        (out / "compare.md")
        .read_text()
        .startswith("# orderflow compare: naive (A) vs resilient (B)")
    )
    page = (out / "compare.html").read_text()
    assert "<svg" in page and "<script" not in page


def test_compare_writes_beside_run_b_by_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = write_folder(tmp_path / "runs" / "one", plain_document())
    b = write_folder(tmp_path / "runs" / "two", plain_document())
    assert main(["compare", str(a), str(b)]) == 0
    assert (tmp_path / "runs" / "compare-one-vs-two" / "compare.html").is_file()
    capsys.readouterr()


def test_compare_with_a_missing_folder_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = write_folder(tmp_path / "a", plain_document())
    assert main(["compare", str(a), str(tmp_path / "b")]) == 2
    assert (
        capsys.readouterr().err == f"orderflow compare: {tmp_path / 'b'}: no such results folder\n"
    )


def test_compare_of_runs_without_a_style_in_common_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = write_folder(tmp_path / "a", plain_document(("rest",)))
    b = write_folder(tmp_path / "b", plain_document(("grpc", "broker")))
    assert main(["compare", str(a), str(b)]) == 2
    assert capsys.readouterr().err == (
        "orderflow compare: no style ran in both runs (A: rest; B: grpc, broker)\n"
    )
    assert not (tmp_path / "compare-a-vs-b").exists()


@pytest.mark.parametrize("command", ["report", "compare"])
def test_each_command_explains_itself(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    assert "report.html" in text or "compare.html" in text
    assert "Exit codes: 0" in text
