r"""Writing output files safely: every file gradlab writes (figures, derivations in Markdown or LaTeX,
check results) goes through :func:`write_bytes` or :func:`write_text`.

* **Atomic.** The content goes to a temporary file in the destination's own folder, which is then
  renamed over the destination: a reader (or a second gradlab writing the same figure) sees the old
  file or the new one, never half of one. A failed or interrupted write removes its temporary file.
* **Links are not followed.** The destination's directory entry is replaced, never opened for writing,
  so a symbolic link (or a hard link) planted in the output folder cannot make gradlab write to a file
  outside it; an existing link is refused unless ``force`` (which replaces the link itself).
* **Only gradlab's own files are replaced.** Every file carries a generator mark (:data:`MARK`: a
  comment at the end of text formats, after the XML declaration of SVG and XML, a ``tEXt`` chunk in
  PNG, a comment after the end of a PDF, a ``generator`` entry in JSON). An existing file without it was not written by gradlab and is kept unless ``force``.
* **One clear message.** Every problem (a folder that cannot be made or written, a link, a foreign
  file) raises :class:`OutputError`, one line that names the path, the reason and what to do.

>>> import tempfile, os
>>> folder = tempfile.mkdtemp()
>>> p = write_text(os.path.join(folder, "notes.md"), "# BPTT\n")
>>> is_marked(p), open(p, encoding="utf-8").read().splitlines()
(True, ['# BPTT', '<!-- written by gradlab -->'])
"""
from __future__ import annotations

import os
import stat
import tempfile
import zlib
from pathlib import Path

__all__ = ["MARK", "OutputError", "write_bytes", "write_text", "add_mark", "is_marked", "check_target",
           "format_of", "unique_stems"]

#: the generator mark: a file that contains it was written by gradlab and may be replaced
MARK = "written by gradlab"
_MARK_B = MARK.encode()
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_KEY = b"Software"
_HEAD = 64 * 1024    # the mark is looked for in the first 64 KiB ...
_TAIL = 1024         # ... and the last KiB (PDF) of an existing file

_FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf", ".dot": "dot", ".gv": "dot", ".json": "json",
            ".md": "md", ".markdown": "md", ".tex": "tex", ".xml": "xml", ".plain": "plain", ".txt": "text"}


class OutputError(OSError):
    """An output file could not be written: the message names the path, the reason and what to do."""


def format_of(path) -> str | None:
    """Return the format gradlab marks a file of this name in (``"png"``, ``"svg"``, ``"md"``, …), or
    None for a suffix it has no comment syntax for."""
    return _FORMATS.get(Path(path).suffix.lower())


def add_mark(data: bytes, fmt: str | None) -> bytes:
    r"""Return ``data`` with the generator mark added in the way format ``fmt`` allows (unchanged when it
    already has one, or when ``fmt`` has no place for a mark)."""
    if fmt == "png":
        return _png_with_mark(data)
    if _MARK_B in data[:_HEAD] or _MARK_B in data[-_TAIL:]:
        return data
    if fmt in ("svg", "xml"):
        # after the XML declaration (which must come first), before everything else
        if data.startswith(b"<?xml"):
            start = data.find(b"?>") + 2
            return data[:start] + b"\n<!-- " + _MARK_B + b" -->" + data[start:]
        return b"<!-- " + _MARK_B + b" -->\n" + data
    if fmt == "pdf":
        # a comment after %%EOF: readers look for the last %%EOF within the final KiB, which this keeps
        return data + (b"" if data.endswith(b"\n") else b"\n") + b"%" + _MARK_B + b"\n"
    end = b"" if data.endswith(b"\n") or not data else b"\n"
    comment = {"md": (b"<!-- ", b" -->"), "tex": (b"% ", b""), "dot": (b"// ", b""), "plain": (b"# ", b""),
               "text": (b"# ", b"")}
    if fmt in comment:   # a last line, so that the file still starts as its format expects
        before, after = comment[fmt]
        return data + end + before + _MARK_B + after + b"\n"
    if fmt == "json":
        body = data.lstrip()
        if body.startswith(b"{"):
            rest = body[1:].lstrip()
            sep = b"" if rest.startswith(b"}") else b","
            return b'{"generator": "' + _MARK_B + b'"' + sep + b" " + body[1:]
    return data


def _png_with_mark(data: bytes) -> bytes:
    if not data.startswith(_PNG_SIGNATURE):
        raise ValueError("add_mark: the data is not a PNG image")
    if _png_marked(data):
        return data
    text = _PNG_KEY + b"\x00" + b"gradlab (" + _MARK_B + b")"
    chunk = len(text).to_bytes(4, "big") + b"tEXt" + text + zlib.crc32(b"tEXt" + text).to_bytes(4, "big")
    ihdr_end = 8 + 4 + 4 + int.from_bytes(data[8:12], "big") + 4   # the IHDR chunk must come first
    return data[:ihdr_end] + chunk + data[ihdr_end:]


def _png_marked(data: bytes) -> bool:
    """Whether a PNG has a ``tEXt`` chunk ``Software`` whose value starts with ``gradlab`` (before IDAT)."""
    pos = 8
    while pos + 8 <= len(data):
        n = int.from_bytes(data[pos:pos + 4], "big")
        kind = data[pos + 4:pos + 8]
        if kind in (b"IDAT", b"IEND"):
            return False
        if kind == b"tEXt":
            key, _, value = data[pos + 8:pos + 8 + n].partition(b"\x00")
            if key == _PNG_KEY and value.startswith(b"gradlab"):
                return True
        pos += 12 + n
    return False


def is_marked(path) -> bool:
    """Return whether the regular file ``path`` carries gradlab's generator mark (never follows a link)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return False
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            return False
        head = fh.read(_HEAD)
        if head.startswith(_PNG_SIGNATURE):
            return _png_marked(head)
        if _MARK_B in head:
            return True
        size = os.fstat(fh.fileno()).st_size
        if size <= _HEAD:
            return False
        fh.seek(max(size - _TAIL, 0))
        return _MARK_B in fh.read()


def check_target(path, *, force: bool = False) -> None:
    r"""Raise :class:`OutputError` unless ``path`` may be (re)written: it does not exist, or it is a regular
    file that gradlab wrote; with ``force``, any existing file or link (not a folder) may be replaced."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise OutputError(f"{path}: cannot look at it: {exc.strerror or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        raise OutputError(f"{path}: is a folder; give a file name")
    if force:
        return
    if stat.S_ISLNK(st.st_mode):
        raise OutputError(f"{path}: is a symbolic link (to {os.readlink(path)}); gradlab does not write through "
                          f"links. Remove it or write elsewhere (--force replaces the link itself, never its target)")
    if not stat.S_ISREG(st.st_mode) or not is_marked(path):
        raise OutputError(f"{path}: exists and was not written by gradlab, so it is kept; choose another name or "
                          f"folder, or use --force to replace it")


def write_bytes(path, data: bytes, *, fmt: str | None = None, force: bool = False, make_folder: bool = False,
                mark: bool = True) -> Path:
    r"""Write ``data`` to ``path`` atomically, with the generator mark for ``fmt`` (default: from the
    suffix), and return the path.

    ``make_folder`` creates missing folders; otherwise the folder must exist. Raises
    :class:`OutputError` when the folder cannot be made or written, when ``path`` is a link or a file
    gradlab did not write (unless ``force``), or when the write fails; nothing is left half-written."""
    path = Path(path)
    folder = path.parent
    if make_folder:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise OutputError(f"{folder}: cannot make this folder: a file of that name is in the way") from None
        except OSError as exc:
            raise OutputError(f"{folder}: cannot make this folder: {exc.strerror or exc}") from None
    if not folder.is_dir():
        raise OutputError(f"{folder}: no such folder" + ("" if folder.exists() or make_folder else
                                                         " (it is not created silently)"))
    check_target(path, force=force)
    if mark:
        data = add_mark(data, fmt if fmt is not None else format_of(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise OutputError(f"{folder}: cannot write in this folder: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())       # mkstemp makes it private; a figure is an ordinary file
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise OutputError(f"{path}: could not be written: {exc.strerror or exc}") from None
        raise
    return path


_UMASK: list = []


def _umask() -> int:
    """The process's umask, read once (reading it means setting it, so not on every write)."""
    if not _UMASK:
        try:
            with open("/proc/self/status", encoding="ascii") as fh:
                line = next(l for l in fh if l.startswith("Umask:"))
            _UMASK.append(int(line.split()[1], 8))
        except (OSError, StopIteration, ValueError):
            mask = os.umask(0o022)
            os.umask(mask)
            _UMASK.append(mask)
    return _UMASK[0]


def write_text(path, text: str, *, fmt: str | None = None, force: bool = False, make_folder: bool = False,
               mark: bool = True) -> Path:
    """Write ``text`` (UTF-8) to ``path`` as :func:`write_bytes` does, and return the path."""
    return write_bytes(path, text.encode("utf-8"), fmt=fmt, force=force, make_folder=make_folder, mark=mark)


def unique_stems(paths) -> dict:
    r"""Return {path: name}: each file's stem, lengthened by as many parent folders as it takes to tell
    files with the same stem apart (``alice/solution.py`` and ``bob/solution.py`` become
    ``alice_solution`` and ``bob_solution``; a stem that occurs once stays as it is)."""
    full = {p: Path(os.path.abspath(p)) for p in paths}
    parts = {p: [f.stem] + [q.name for q in f.parents if q.name] for p, f in full.items()}
    depth = {p: 1 for p in paths}
    while True:
        names: dict = {}
        for p in paths:
            names.setdefault("_".join(reversed(parts[p][:depth[p]])), []).append(p)
        clashes = [group for group in names.values() if len(group) > 1]
        grown = False
        for group in clashes:
            for p in group:
                if depth[p] < len(parts[p]):
                    depth[p] += 1
                    grown = True
        if not grown:
            break
    out = {}
    seen: dict = {}
    for p in paths:
        name = "_".join(reversed(parts[p][:depth[p]]))
        seen[name] = seen.get(name, 0) + 1
        out[p] = name if seen[name] == 1 else f"{name}_{seen[name]}"   # the same file given twice
    return out
