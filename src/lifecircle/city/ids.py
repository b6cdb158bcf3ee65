"""Stable row ids made from a row's content, for files that bring no id column.

An id made from the row number (``o-r12``) would name a different place in every file, so a second
export would overwrite the first's rows. These ids depend only on what the row *is*: the same row
gets the same id in any file and on any run, so importing a file twice changes nothing and two
different files add up.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import shapely

_SEP = "\x1f"  # unit separator: cannot appear in a name typed into a spreadsheet


def content_id(prefix: str, *parts: Any, digits: int = 16) -> str:
    """``<prefix>-<hex>``: the first ``digits`` hex digits of a SHA-1 of the parts' text.

    16 hex digits (64 bits) make a collision between two of a million rows about 1 in 30 million."""
    text = _SEP.join("" if p is None else str(p) for p in parts)
    return f"{prefix}-{hashlib.sha1(text.encode('utf-8')).hexdigest()[:digits]}"


def _coord(v: Any) -> str:
    """A coordinate in degrees as text at 1e-7 degrees (about a centimetre); empty if missing."""
    try:
        x = float(v)
    except (TypeError, ValueError):
        return ""
    return "" if x != x else f"{x:.7f}"


def point_ids(prefix: str, names: Sequence[Any], lons: Sequence[Any], lats: Sequence[Any]) -> list[str]:
    """Ids of point rows from name + WGS-84 lon/lat (degrees). Rows identical in all three get
    ``~2``, ``~3`` … in file order, so the ids stay unique and still stable for the same file."""
    base = [content_id(prefix, n, _coord(x), _coord(y)) for n, x, y in zip(names, lons, lats, strict=True)]
    return _deduplicate(base)


def geometry_id(geom: Any, prefix: str = "g") -> str:
    """Id of a geometry: a hash of its 2-D little-endian WKB (exact coordinates)."""
    wkb = shapely.to_wkb(geom, hex=False, output_dimension=2, byte_order=1)
    return f"{prefix}-{hashlib.sha1(wkb).hexdigest()[:16]}"


def geometry_ids(geoms: Iterable[Any], prefix: str = "g") -> list[str]:
    """:func:`geometry_id` of each geometry, repeated geometries numbered ``~2``, ``~3`` …"""
    return _deduplicate([geometry_id(g, prefix) for g in geoms])


def _deduplicate(ids: list[str]) -> list[str]:
    seen: Counter[str] = Counter()
    out = []
    for i in ids:
        seen[i] += 1
        out.append(i if seen[i] == 1 else f"{i}~{seen[i]}")
    return out
