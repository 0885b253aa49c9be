"""Read an .npz archive without trusting it: no pickle, every member's CRC checked, and no
member allowed to claim more data than it holds."""

from __future__ import annotations

import io
import math
import zipfile
from collections.abc import Collection
from pathlib import Path

import numpy as np


def read_npz(path: Path, names: Collection[str]) -> dict[str, np.ndarray]:
    """The members `names` that the npz archive `path` holds, read as `np.load(path,
    allow_pickle=False)` would, but checked first: each member's CRC (a flipped bit is an
    error, never a silently different number) and that its data is as long as its header
    says (a garbled header must not allocate a huge array). Other members are not read (a
    router saved by an older version may hold arrays no longer used). A ValueError names
    what is wrong."""
    try:
        with zipfile.ZipFile(path) as zf:
            wanted = [(info.filename.removesuffix(".npy"), info) for info in zf.infolist()]
            wanted = [(name, info) for name, info in wanted if name in names]
            raw = {name: zf.read(info) for name, info in wanted}  # read() checks the CRC
    except Exception as e:  # noqa: BLE001 - zipfile and its decompressors raise many types on bad bytes
        raise ValueError(f"arrays.npz is not a readable npz archive ({type(e).__name__}: {e})") from e
    if len(raw) != len(wanted):
        raise ValueError(f"arrays.npz holds a member twice: {sorted(n for n, _ in wanted)}")
    return {name: _npy_array(name, data) for name, data in raw.items()}


def _npy_array(name: str, data: bytes) -> np.ndarray:
    """One .npy member's array, without pickle; a ValueError naming the member if it is bad."""
    fmt = np.lib.format
    f = io.BytesIO(data)
    try:
        version = fmt.read_magic(f)
        if version not in ((1, 0), (2, 0)):
            raise ValueError(f"npy format version {version} is not one numpy's savez writes")
        read_header = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, _, dtype = read_header(f)
        if dtype.hasobject:
            raise ValueError("it holds Python objects, which are not loaded (no pickle)")
        if len(data) - f.tell() != math.prod(shape) * dtype.itemsize:
            raise ValueError(f"its header says {shape} {dtype}, but it holds {len(data) - f.tell()} bytes of data")
        f.seek(0)
        return fmt.read_array(f, allow_pickle=False)
    except (ValueError, TypeError, SyntaxError, OverflowError, EOFError) as e:
        raise ValueError(f"arrays.npz member {name!r} is not a readable array: {e}") from e
