"""The native audio core: streaming kernels for the real-time media path.

Every compiled kernel (Cython or Numba) has a pure-Python reference beside
it. Setting MEDIASERVER_NO_EXTENSIONS=1 selects the references everywhere;
tests run over both. This package imports only numpy and numba.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType


def extensions_enabled() -> bool:
    """False when MEDIASERVER_NO_EXTENSIONS asks for the pure-Python references."""
    return os.environ.get("MEDIASERVER_NO_EXTENSIONS", "") in ("", "0")


def load_kernel(compiled: str, reference: str) -> ModuleType:
    """Import the compiled kernel module, or its reference when extensions are off.

    A missing compiled module is an error, not a silent fallback: a server
    that quietly runs the slow path is worse than one that says it was not built.
    """
    if not extensions_enabled():
        return importlib.import_module(reference)
    try:
        return importlib.import_module(compiled)
    except ImportError as exc:
        raise ImportError(
            f"{compiled} is not built: run `make build` (or `pip install .`), "
            "or set MEDIASERVER_NO_EXTENSIONS=1 for the pure-Python reference"
        ) from exc
