"""The output cache of the native libraries: large outputs reuse memory the process has already faulted in.

glibc malloc maps every block over 32 MB afresh and unmaps it when it is freed, so without a cache each
call of a big product pays its output's page faults again (case (a) at 20,000 edges, 400 MB out: 214 ms
forward under glibc, 72 ms under tcmalloc, which keeps freed pages). The native libraries therefore map
outputs of 4 MB or more themselves (`templates/cpp/_fresh_outputs.cpp.j2`) and keep a freed one for the
next output of about its size, as torch's CUDA caching allocator does on the GPU:

* only freed memory is kept: a live tensor's block is never handed out again;
* at most `limit` bytes are kept, the least recently freed block leaves first; the default is
  min(1 GB, RAM / 8), `E3GEN_NATIVE_OUTPUT_CACHE_MB` sets it (0 turns the cache off) and
  `set_limit` changes it at run time;
* `release()` unmaps every kept block (like `torch.cuda.empty_cache`), `stats()` reports the cache.

Every library of a process shares one cache: the first one loaded makes it, each later one adopts it
(`link`, called by the loaders in `e3gen.native.build`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Optional

import torch

_lock = threading.Lock()
_address: Optional[int] = None  # the process's cache, once a library is loaded
_namespace: Optional[str] = None  # a loaded library whose ops reach it


@dataclass(frozen=True)
class OutputCacheStats:
    kept_bytes: int  # freed output memory held for reuse
    limit_bytes: int
    kept_blocks: int
    hits: int  # outputs served from kept memory
    misses: int  # outputs of 4 MB or more that needed a new mapping


def link(namespace: str) -> None:
    """Make the freshly loaded library `namespace` use the process's one cache (or make it the cache)."""
    global _address, _namespace
    with _lock:
        _address = int(getattr(torch.ops, namespace).output_cache_link(_address or 0))
        _namespace = _namespace or namespace


def _control(limit: int, release: bool) -> OutputCacheStats:
    if _namespace is None:  # no library loaded yet: nothing kept
        return OutputCacheStats(0, -1 if limit < 0 else limit, 0, 0, 0)
    return OutputCacheStats(*getattr(torch.ops, _namespace).output_cache_control(limit, release))


def stats() -> OutputCacheStats:
    """What the cache holds now (limit -1 when no native library has been loaded yet)."""
    return _control(-1, False)


def release() -> OutputCacheStats:
    """Unmap every kept block (the memory goes back to the system); returns the stats after."""
    return _control(-1, True)


def set_limit(limit_bytes: int) -> OutputCacheStats:
    """Keep at most `limit_bytes` of freed outputs from now on (0: keep none); needs a loaded library."""
    if int(limit_bytes) < 0:
        raise ValueError(f"the output cache limit is a number of bytes >= 0, got {limit_bytes}")
    if _namespace is None:
        raise RuntimeError("no native library is loaded yet: set E3GEN_NATIVE_OUTPUT_CACHE_MB before the first "
                           "native call, or call set_limit after it")
    return _control(int(limit_bytes), False)
