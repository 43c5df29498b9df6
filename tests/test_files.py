"""Files are written safely (gradlab.files, and every command that writes): atomically, never through a
symbolic link, never over a file gradlab did not write (without --force), with names that do not collide,
and an output problem is one clear message and a non-zero status while the results are still printed."""
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from gradlab.files import (MARK, OutputError, add_mark, check_target, is_marked, unique_stems, write_bytes,
                           write_text)

ROOT = Path(__file__).resolve().parent.parent
WRONG_DERIVATION = ROOT / "derivations" / "wrong_feedforward_missing_half.py"


def gradlab(*args, cwd=None, user=None):
    return subprocess.run([sys.executable, "-m", "gradlab.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, user=user, timeout=600)


# ------------------------------------------------------------------------------- gradlab.files
def test_a_write_replaces_the_file_whole_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "notes.md"
    write_text(target, "# first\n")
    write_text(target, "# second\n")
    assert target.read_text().startswith("# second\n") and is_marked(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.md"]


def test_an_interrupted_write_keeps_the_old_file_and_removes_its_temporary_file(tmp_path, monkeypatch):
    target = tmp_path / "figure.svg"
    write_text(target, "<svg>old</svg>")
    old = target.read_bytes()

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_text(target, "<svg>new</svg>")
    assert target.read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figure.svg"]


def test_a_symlink_planted_in_the_output_folder_is_never_written_through(tmp_path):
    outside = tmp_path / "precious.txt"
    outside.write_text("the student's thesis")
    folder = tmp_path / "figures"
    folder.mkdir()
    (folder / "fig.svg").symlink_to(outside)
    with pytest.raises(OutputError, match="is a symbolic link .* does not write through links"):
        write_text(folder / "fig.svg", "<svg/>")
    assert outside.read_text() == "the student's thesis"
    write_text(folder / "fig.svg", "<svg/>", force=True)          # --force replaces the link itself
    assert not (folder / "fig.svg").is_symlink() and is_marked(folder / "fig.svg")
    assert outside.read_text() == "the student's thesis"


def test_a_file_gradlab_did_not_write_is_kept_unless_forced_and_its_own_files_are_replaced(tmp_path):
    mine = tmp_path / "lecture.md"
    mine.write_text("# my own notes\n")
    with pytest.raises(OutputError, match="was not written by gradlab, so it is kept.*--force"):
        write_text(mine, "# derived\n")
    assert mine.read_text() == "# my own notes\n"
    write_text(mine, "# derived\n", force=True)
    write_text(mine, "# derived again\n")                           # now gradlab's: no --force needed
    assert mine.read_text().startswith("# derived again")
    with pytest.raises(OutputError, match="is a folder"):
        check_target(tmp_path, force=True)


def test_an_impossible_folder_is_one_clear_error(tmp_path):
    (tmp_path / "plain_file").write_text("x")
    with pytest.raises(OutputError, match="cannot make this folder"):
        write_text(tmp_path / "plain_file" / "figs" / "a.svg", "<svg/>", make_folder=True)
    with pytest.raises(OutputError, match="no such folder"):
        write_text(tmp_path / "missing" / "a.svg", "<svg/>")


def _png_chunks(data: bytes) -> list:
    import zlib

    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, []
    while pos < len(data):
        n = int.from_bytes(data[pos:pos + 4], "big")
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        assert int.from_bytes(data[pos + 8 + n:pos + 12 + n], "big") == zlib.crc32(kind + body), kind
        chunks.append((kind, body))
        pos += 12 + n
    return chunks


@pytest.mark.graphviz_exe
def test_every_figure_format_carries_the_mark_and_stays_a_valid_file(tmp_path):
    from gradlab.render import plots, render

    fig, ax = plots.new(title="E over epochs")
    plots.lines(ax, [0, 1, 2], {"train": [3.0, 2.0, 1.5]}, xlabel="epoch", ylabel="E")
    for suffix in ("png", "svg", "pdf", "dot"):
        render("elman", tmp_path / f"elman.{suffix}", view="folded", T=2)
        if suffix != "dot":
            plots.save(fig, tmp_path / f"plot.{suffix}")
    for path in sorted(tmp_path.iterdir()):
        assert is_marked(path), path.name
        data = path.read_bytes()
        if path.suffix == ".png":
            chunks = _png_chunks(data)                          # every chunk's CRC is right
            assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND"
            import matplotlib.image

            assert matplotlib.image.imread(path).ndim == 3      # and it decodes
        elif path.suffix == ".svg":
            assert ET.fromstring(data).tag.endswith("svg")
        elif path.suffix == ".pdf":
            assert data.startswith(b"%PDF") and b"%%EOF" in data[-1024:]
            if shutil.which("pdfinfo"):
                info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True)
                assert info.returncode == 0 and "Syntax" not in info.stderr, info.stderr
        elif path.suffix == ".dot":
            plain = subprocess.run(["dot", "-Tplain", str(path)], capture_output=True, text=True)
            assert plain.returncode == 0 and plain.stdout.startswith("graph"), plain.stderr


def test_text_formats_keep_their_first_line_and_json_stays_json():
    assert add_mark(b"# BPTT\n", "md") == b"# BPTT\n<!-- " + MARK.encode() + b" -->\n"
    assert add_mark(b"\\begin{align*}\n", "tex").startswith(b"\\begin{align*}\n% ")
    assert add_mark(b"digraph {}", "dot").startswith(b"digraph {}\n// ")
    doc = json.loads(add_mark(b'{"a": 1}', "json"))
    assert doc == {"generator": MARK, "a": 1}
    xml = add_mark(b'<?xml version="1.0"?>\n<r/>', "xml")
    assert ET.fromstring(xml).tag == "r" and xml.startswith(b'<?xml version="1.0"?>')
    assert add_mark(add_mark(b"x", "md"), "md") == add_mark(b"x", "md")      # marked once


def test_figure_names_are_unique_per_derivation_path():
    names = unique_stems(["a/alice/solution.py", "a/bob/solution.py", "a/bob/other.py", "b/x/solution.py"])
    assert len(set(names.values())) == 4
    assert names["a/bob/other.py"] == "other"                     # a stem that occurs once stays as it is
    assert names["a/alice/solution.py"] == "alice_solution"
    deep = unique_stems(["x/s1/solution.py", "y/s1/solution.py"])
    assert deep == {"x/s1/solution.py": "x_s1_solution", "y/s1/solution.py": "y_s1_solution"}


def _write_many(path, payload, n):
    for _ in range(n):
        write_bytes(path, payload, fmt="svg")


def test_two_processes_writing_the_same_figure_never_leave_an_invalid_file(tmp_path):
    target = tmp_path / "same.svg"
    a = b"<svg>" + b"a" * 200_000 + b"</svg>"
    b = b"<svg>" + b"b" * 50_000 + b"</svg>"
    valid = {add_mark(a, "svg"), add_mark(b, "svg")}
    ctx = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    procs = [ctx.Process(target=_write_many, args=(target, payload, 60)) for payload in (a, b)]
    for p in procs:
        p.start()
    seen = 0
    while any(p.is_alive() for p in procs):
        if target.exists():
            assert target.read_bytes() in valid      # a reader sees one writer's whole file, never a mix
            seen += 1
    for p in procs:
        p.join()
        assert p.exitcode == 0
    assert target.read_bytes() in valid and seen > 0
    assert [p.name for p in tmp_path.iterdir()] == ["same.svg"]


# ------------------------------------------------------------------------ the commands that write
@pytest.mark.graphviz_exe
def test_check_results_survive_an_impossible_figure_folder(tmp_path):
    (tmp_path / "not_a_folder").write_text("x")
    proc = gradlab("check", WRONG_DERIVATION, "--examples", "0", "--json", "--figure", tmp_path / "not_a_folder" / "f")
    doc = json.loads(proc.stdout)                                   # the JSON is whole, never 0 bytes
    assert proc.returncode == 3
    assert doc["files"][0]["status"] == "caught" and doc["exit_status"] == 3
    assert len(doc["output_errors"]) == 1 and "cannot make this folder" in doc["output_errors"][0]
    assert proc.stderr.count("gradlab check: --figure") == 1 and "Traceback" not in proc.stderr


def _make_read_only(folder: Path) -> None:
    """Make ``folder`` read-only for this process: permission bits, or as root (whom they do not stop) the
    immutable attribute; skip when neither can be had."""
    if os.geteuid() != 0:
        os.chmod(folder, 0o555)
        return
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(folder)],
                                                        capture_output=True).returncode != 0:
        pytest.skip("running as root on a file system without the immutable attribute: no read-only folder to be had")


def _make_writable(folder: Path) -> None:
    if os.geteuid() == 0 and shutil.which("chattr"):
        subprocess.run(["chattr", "-i", str(folder)], capture_output=True)
    os.chmod(folder, 0o755)


@pytest.mark.graphviz_exe
@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX permissions")
def test_check_results_survive_a_read_only_figure_folder(tmp_path):
    figs = tmp_path / "figs"
    figs.mkdir()
    _make_read_only(figs)
    try:
        proc = gradlab("check", WRONG_DERIVATION, "--examples", "0", "--figure", figs)
        assert proc.returncode == 3, proc.stderr
        assert "caught  wrong_feedforward_missing_half.py" in proc.stdout and "all as expected" in proc.stdout
        assert "cannot write in this folder" in proc.stderr and "Traceback" not in proc.stderr
        assert list(figs.iterdir()) == []
    finally:
        _make_writable(figs)


@pytest.mark.graphviz_exe
def test_check_figures_of_two_solution_py_in_two_folders_do_not_overwrite_each_other(tmp_path):
    for student in ("alice", "bob"):
        (tmp_path / student).mkdir()
        shutil.copy(WRONG_DERIVATION, tmp_path / student / "solution.py")
    proc = gradlab("check", tmp_path / "alice", tmp_path / "bob", "--examples", "0", "--figure", tmp_path / "figs")
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == ["alice_solution.svg", "bob_solution.svg"]


@pytest.mark.graphviz_exe
def test_check_keeps_a_figure_it_did_not_write_and_refuses_a_planted_link(tmp_path):
    figs = tmp_path / "figs"
    figs.mkdir()
    outside = tmp_path / "outside.svg"
    outside.write_text("<svg>not gradlab's</svg>")
    (figs / "wrong_feedforward_missing_half.svg").symlink_to(outside)
    proc = gradlab("check", WRONG_DERIVATION, "--examples", "0", "--figure", figs)
    assert proc.returncode == 3 and "symbolic link" in proc.stderr
    assert outside.read_text() == "<svg>not gradlab's</svg>"
    proc = gradlab("check", WRONG_DERIVATION, "--examples", "0", "--figure", figs, "--force")
    assert proc.returncode == 0 and outside.read_text() == "<svg>not gradlab's</svg>"
    assert is_marked(figs / "wrong_feedforward_missing_half.svg")


def test_check_json_file_that_cannot_be_written_goes_to_standard_output(tmp_path):
    (tmp_path / "blocker").write_text("x")
    proc = gradlab("check", WRONG_DERIVATION, "--examples", "0", "--json", tmp_path / "blocker" / "out.json")
    assert proc.returncode == 3 and "the JSON document follows on standard output" in proc.stderr
    doc = json.loads(proc.stdout[proc.stdout.index("{"):])
    assert doc["files"][0]["status"] == "caught"


def test_derive_keeps_a_file_it_did_not_write_unless_forced(tmp_path):
    target = tmp_path / "elman.md"
    target.write_text("my lecture notes\n")
    proc = gradlab("derive", "elman", "--T", "2", "-o", target)
    assert proc.returncode == 3 and "not written by gradlab" in proc.stderr
    assert target.read_text() == "my lecture notes\n"
    assert gradlab("derive", "elman", "--T", "2", "-o", target, "--force").returncode == 0
    assert target.read_text().startswith("# BPTT derivation") and is_marked(target)
    assert gradlab("derive", "elman", "--T", "2", "-o", target).returncode == 0     # gradlab's own file now


def test_derive_write_md_into_an_impossible_folder_is_one_message_per_file_and_status_3(tmp_path):
    (tmp_path / "blocker").write_text("x")
    proc = gradlab("derive", "elman", "--T", "2", "--write-md", tmp_path / "blocker" / "md", "--no-check")
    assert proc.returncode == 3 and "Traceback" not in proc.stderr
    assert "cannot make this folder" in proc.stderr


@pytest.mark.graphviz_exe
def test_render_never_writes_through_a_symlink(tmp_path):
    outside = tmp_path / "outside.png"
    outside.write_bytes(b"not gradlab's")
    link = tmp_path / "fig.png"
    link.symlink_to(outside)
    proc = gradlab("render", "elman", "-o", link)
    assert proc.returncode == 3 and "symbolic link" in proc.stderr and "Traceback" not in proc.stderr
    assert outside.read_bytes() == b"not gradlab's"
