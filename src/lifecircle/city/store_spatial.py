"""Spatial columns of the city store on PostgreSQL with PostGIS (schema version 3).

The store keeps every geometry as WKT text (full precision) in its ``geometry`` column, on every
backend: that text is what is loaded and merged, so a city comes back exactly as saved. On a
PostgreSQL server with PostGIS, version 3 adds beside it a *generated* column ``geom`` that the
database keeps in step with the row by itself:

* ``geometry(Geometry, 4326)`` from the WKT for the tables with a geometry (districts, circles,
  streets);
* ``geometry(Point, 4326)`` from ``lon``/``lat`` for the point tables (communities, outlets,
  candidate sites, centre candidates);

each with a GiST index ``<table>_geom_gist``, so ``ST_Intersects``/``&&``/``ST_DWithin`` queries
on the store (outlets in a district, streets in a bounding box) use the index, and GIS tools
(QGIS, ogr2ogr) see proper layers. The store creates the ``postgis`` extension when it may; when
the server has no PostGIS (or the user may not create it) the store says so in one line and works
on without spatial columns — the next save after an administrator has run ``CREATE EXTENSION
postgis`` adds them. On SQLite the step does nothing: geometry stays WKT text.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa

from lifecircle.city.schema import TABLES
from lifecircle.i18n import t

log = logging.getLogger("lifecircle.store")

GEOM = "geom"  # the name of the generated PostGIS column
# table -> (PostGIS type, generating expression)
SPATIAL_COLUMNS: dict[str, tuple[str, str]] = {}
for _name, _cols in TABLES.items():
    _names = {c.name for c in _cols}
    if "geometry" in _names:
        SPATIAL_COLUMNS[_name] = ("geometry(Geometry, 4326)", 'ST_GeomFromText("geometry", 4326)')
    elif {"lon", "lat"} <= _names:
        SPATIAL_COLUMNS[_name] = ("geometry(Point, 4326)", "ST_SetSRID(ST_MakePoint(lon, lat), 4326)")


def install_hint() -> str:
    """How to get PostGIS onto a Debian/Ubuntu server (in the message language)."""
    return t(
        "Debian/Ubuntu：apt-get install postgresql-15-postgis-3（版本号与服务器一致），"
        "再以超级用户在该数据库中执行 CREATE EXTENSION postgis",
        "Debian/Ubuntu: apt-get install postgresql-15-postgis-3 (match the server's major version), "
        "then as a superuser in the database: CREATE EXTENSION postgis",
    )


def gist_index(table: str) -> str:
    """The name of the spatial index of ``table``."""
    return f"{table}_{GEOM}_gist"


def _has_postgis(conn: sa.Connection) -> bool:
    return conn.exec_driver_sql("SELECT 1 FROM pg_extension WHERE extname = 'postgis'").first() is not None


def postgis_ready(conn: sa.Connection) -> bool:
    """True when the store's database has PostGIS and its tables have the spatial columns."""
    if conn.dialect.name != "postgresql" or not _has_postgis(conn):
        return False
    return _has_geom(conn, "outlets")


def _has_geom(conn: sa.Connection, table: str) -> bool:
    q = sa.text(
        "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND table_name = :t AND column_name = :c"
    )
    return conn.execute(q, {"t": table, "c": GEOM}).first() is not None


def _enable_postgis(conn: sa.Connection) -> str | None:
    """Make sure the database has the ``postgis`` extension; None when it has, else why not."""
    if _has_postgis(conn):
        return None
    if conn.exec_driver_sql("SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'").first() is None:
        return t("服务器上没有安装 PostGIS", "PostGIS is not installed on the server")
    try:
        with conn.begin_nested():
            conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS postgis")
    except sa.exc.DBAPIError as exc:  # typically: permission denied to create extension
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        return t(f"无法启用 PostGIS（{reason}）", f"cannot enable PostGIS ({reason})")
    return None


def add_spatial_columns(conn: sa.Connection) -> None:
    """Schema version 3: on PostgreSQL, PostGIS ``geom`` columns (generated from the stored WKT or
    lon/lat) with GiST indexes, when the server has PostGIS; otherwise one line saying how to get
    it. On SQLite: nothing (geometry stays WKT text). Idempotent."""
    if conn.dialect.name != "postgresql":
        return
    why = _enable_postgis(conn)
    if why is not None:
        hint = install_hint()
        log.warning(
            t(
                f"{why}：城市数据库照常工作，几何保存为 WKT 文本，没有空间索引。安装方法 — {hint}",
                f"{why}: the city store works on with geometry as WKT text and no spatial index. To install — {hint}",
            )
        )
        return
    q = conn.dialect.identifier_preparer.quote
    for table, (sql_type, expr) in SPATIAL_COLUMNS.items():
        if not _has_geom(conn, table):
            conn.exec_driver_sql(
                f"ALTER TABLE {q(table)} ADD COLUMN {GEOM} {sql_type} GENERATED ALWAYS AS ({expr}) STORED"
            )
        conn.exec_driver_sql(f"CREATE INDEX IF NOT EXISTS {gist_index(table)} ON {q(table)} USING GIST ({GEOM})")


def spatial_pending(conn: sa.Connection) -> bool:
    """A store at the current version that lacks its spatial columns although the database has
    PostGIS now (an administrator ran ``CREATE EXTENSION postgis`` after the store was made)."""
    return conn.dialect.name == "postgresql" and _has_postgis(conn) and not _has_geom(conn, "outlets")
