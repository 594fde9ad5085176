"""The on-disk cache of compiled object code, addressed by content.

The key hashes everything the machine code depends on: the IR module's text and the
source locations that run-time error messages quote, the runtime's own source (which
does the lowering), the llvmlite and LLVM versions, the host CPU and its features, and
the compile options. An entry is the object file plus the table of error sites, which
also holds a hash of both: an entry that does not match it (a file cut short or
overwritten) is a miss, never code handed to LLVM. Set DPC_CACHE=0 to turn the cache
off, DPC_CACHE_DIR to move it (default: $XDG_CACHE_HOME/dpc, else ~/.cache/dpc);
`clear_cache()` empties it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
from pathlib import Path

import llvmlite
import llvmlite.binding as llvm

import ir

FORMAT = "dpc-object-cache-2"


@functools.cache
def lowering_fingerprint() -> str:
    """A hash of the source of the runtime and of the IR package: the same IR lowers to
    different code after a change to the lowering or to what it takes from ir (the
    entry points' size checks from ir.calling, messages from ir.errors, proofs from
    ir.ops), so an object cached before it must not be used. Computed on the first
    compile, not at import."""
    h = hashlib.sha256()
    sources = sorted(Path(__file__).parent.glob("*.py")) + sorted(Path(ir.__file__).parent.glob("*.py"))
    for path in sources:
        h.update(path.read_bytes())
    return h.hexdigest()


def cache_dir() -> Path | None:
    """The cache's folder; None when there is none to name: no DPC_CACHE_DIR or
    XDG_CACHE_HOME and no home directory (a container run as a user the system does not
    know, without HOME). Then nothing is cached, as when the folder cannot be written."""
    explicit = os.environ.get("DPC_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME")
    if not base:
        try:
            base = Path.home() / ".cache"
        except RuntimeError:  # "Could not determine home directory."
            return None
    return Path(base) / "dpc"


def enabled() -> bool:
    return os.environ.get("DPC_CACHE", "1") not in ("0", "off", "false", "no")


def key(module: ir.Module, options: str) -> str:
    h = hashlib.sha256()
    for part in (FORMAT, lowering_fingerprint(), llvmlite.__version__, ".".join(map(str, llvm.llvm_version_info)),
                 llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten(), options,
                 ir.print_module(module, locations=True)):  # error messages quote the places
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


def checksum(digest: str, obj: bytes, sites: list) -> str:
    """Of the entry's key too: another entry's files, whole, copied over these (a sync tool,
    a restore) are a miss, not another program's code."""
    data = digest.encode() + b"\0" + obj + json.dumps(sites, sort_keys=True).encode()
    return hashlib.sha256(data).hexdigest()


def load(digest: str) -> tuple[bytes, list] | None:
    """The entry `digest` (object code, error sites), or None when there is none or it
    is damaged."""
    folder = cache_dir() if enabled() else None
    if folder is None:
        return None
    try:
        obj = (folder / f"{digest}.o").read_bytes()
        table = json.loads((folder / f"{digest}.json").read_text())
        sites = table["sites"]
        if table["format"] != FORMAT or table["checksum"] != checksum(digest, obj, sites):
            return None
    except (OSError, ValueError, TypeError, KeyError, RecursionError):
        return None  # json raises RecursionError on brackets nested too deep
    return obj, sites


def store(digest: str, obj: bytes, sites: list) -> None:
    folder = cache_dir() if enabled() else None
    if folder is None:
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        table = {"format": FORMAT, "checksum": checksum(digest, obj, sites), "sites": sites}
        for suffix, data in ((".json", json.dumps(table).encode()), (".o", obj)):
            write_whole(folder / f"{digest}{suffix}", data)
    except OSError:
        pass  # a cache that cannot be written only costs time


def write_whole(path: Path, data: bytes) -> None:
    """Writes a temporary file and renames it to path, so that a concurrent reader never
    sees half a file; a temporary that could not be written whole is removed, since
    clear_cache() does not know its name."""
    fd, tmp = tempfile.mkstemp(dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError:
        Path(tmp).unlink(missing_ok=True)
        raise


def clear_cache() -> int:
    """Deletes every cache entry, and nothing else (the folder may be shared); returns
    how many files were removed."""
    folder = cache_dir()
    removed = 0
    if folder is not None and folder.is_dir():
        for path in folder.iterdir():
            if path.suffix in (".o", ".json") and is_digest(path.stem):
                path.unlink(missing_ok=True)
                removed += 1
    return removed


def is_digest(name: str) -> bool:
    """Is `name` a cache key (64 hexadecimal digits), as entries are named?"""
    return len(name) == 64 and all(c in "0123456789abcdef" for c in name)
