"""Argument checks shared by the pure-Python references.

The compiled kernels do the same checks in C and raise the same messages.
"""

from __future__ import annotations

import numpy as np


def as_pcm(value: object, name: str, max_samples: int) -> np.ndarray:
    """Return `value` as a 1-D contiguous int16 array of at most max_samples."""
    return as_array(value, name, max_samples, np.dtype(np.int16))


def as_array(value: object, name: str, max_samples: int, dtype: np.dtype) -> np.ndarray:
    """Return `value` as a 1-D contiguous array of `dtype` of at most max_samples."""
    if not isinstance(value, np.ndarray):
        raise TypeError(f"{name}: expected a numpy {dtype} array, got {type(value).__name__}")
    if value.dtype != dtype:
        raise TypeError(f"{name}: expected dtype {dtype}, got {value.dtype}")
    if value.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array, got {value.ndim} dimensions")
    if not value.flags.c_contiguous:
        raise ValueError(f"{name}: array must be C-contiguous")
    if value.shape[0] > max_samples:
        raise ValueError(f"{name}: {value.shape[0]} samples, at most {max_samples} allowed")
    return value


def as_codes(value: object, name: str, max_bytes: int) -> np.ndarray:
    """Return a bytes-like payload as a uint8 array of at most max_bytes."""
    if isinstance(value, np.ndarray):
        if value.dtype != np.uint8 or value.ndim != 1 or not value.flags.c_contiguous:
            raise TypeError(f"{name}: expected bytes or a contiguous 1-D uint8 array")
        codes = value
    elif isinstance(value, (bytes, bytearray, memoryview)):
        codes = np.frombuffer(value, dtype=np.uint8) if len(value) else np.zeros(0, np.uint8)
    else:
        raise TypeError(f"{name}: expected bytes, got {type(value).__name__}")
    if codes.shape[0] > max_bytes:
        raise ValueError(f"{name}: {codes.shape[0]} bytes, at most {max_bytes} allowed")
    return codes
