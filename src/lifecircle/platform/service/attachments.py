"""Files attached to the day-to-day records: a filing's documents, an inspection's photos, an
environment issue's photos (:class:`~lifecircle.platform.db_operations.Attachment`).

One rule for every upload of the platform (:func:`checked_file`): the extension is one of the
programme's types (jpg/png/pdf), the first bytes match it, the size is at most
``settings.upload_max_bytes`` bytes. Files are written atomically under
``<data dir>/attachments/<entity>/<id>/`` and named by their SHA-256. Who may attach to or read
an entity is decided by the caller (the service of that entity), before calling these functions.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from lifecircle.platform import audit
from lifecircle.platform.db import User, utcnow
from lifecircle.platform.db_operations import Attachment
from lifecircle.platform.errors import NotFoundError
from lifecircle.platform.programme import Programme
from lifecircle.platform.service._common import _problems
from lifecircle.platform.settings import Settings

MAGIC = {"jpg": (b"\xff\xd8\xff",), "png": (b"\x89PNG\r\n\x1a\n",), "pdf": (b"%PDF-",)}
CONTENT_TYPES = {"jpg": "image/jpeg", "png": "image/png", "pdf": "application/pdf"}


@dataclass(frozen=True)
class CheckedFile:
    """An upload that passed :func:`checked_file`: its clean name, extension and SHA-256."""

    name: str
    ext: str
    data: bytes
    sha256: str


def checked_file(settings: Settings, prog: Programme, filename: str, data: bytes, field: str = "file") -> CheckedFile:
    """The upload ``filename``/``data`` checked (type, content, size), or :class:`InputError` naming ``field``."""
    name = Path((filename or "").replace("\\", "/")).name[:200]
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    ext = "jpg" if ext == "jpeg" else ext
    problem: tuple[str, str, str] | None = None
    if ext not in prog.evidence_types:
        types = ", ".join(prog.evidence_types)
        problem = (field, f"文件类型 '.{ext}' 不支持；支持：{types}", f"file type '.{ext}' not allowed; use {types}")
    elif not data:
        problem = (field, "文件为空", "the file is empty")
    elif len(data) > settings.upload_max_bytes:
        mb, limit = len(data) / 1e6, settings.upload_max_bytes / 1e6
        problem = (
            field,
            f"文件过大（{mb:.1f} MB），上限 {limit:g} MB",
            f"file too large ({mb:.1f} MB); the limit is {limit:g} MB",
        )
    elif not any(data.startswith(m) for m in MAGIC.get(ext, (b"",))):
        problem = (field, f"文件内容不是 {ext} 格式", f"the file's content is not {ext}")
    if problem:
        raise _problems(problem)
    return CheckedFile(name, ext, data, hashlib.sha256(data).hexdigest())


def store_file(folder: Path, f: CheckedFile) -> str:
    """Write ``f`` atomically into ``folder`` as ``<sha256>.<ext>`` (once) and return that name."""
    from lifecircle.sources.files import atomic_output

    folder.mkdir(parents=True, exist_ok=True)
    stored = f"{f.sha256}.{f.ext}"
    target = folder / stored
    if not target.exists():
        with atomic_output(target) as tmp:
            tmp.write_bytes(f.data)
    return stored


def _folder(settings: Settings, entity: str, entity_id: str) -> Path:
    return settings.data_dir / "attachments" / entity / str(entity_id)


def attach(
    s: Session,
    user: User | None,
    settings: Settings,
    prog: Programme,
    entity: str,
    entity_id: str | int,
    *,
    filename: str,
    data: bytes,
    purpose: str = "document",
) -> Attachment:
    """Check and store a file for ``entity``/``entity_id`` (the caller checked the permission);
    the row and its audit entry commit with the caller's transaction."""
    f = checked_file(settings, prog, filename, data)
    stored = store_file(_folder(settings, entity, str(entity_id)), f)
    row = Attachment(
        entity=entity,
        entity_id=str(entity_id),
        purpose=purpose,
        user_id=user.id if user else None,
        filename=f.name,
        stored_name=stored,
        content_type=CONTENT_TYPES[f.ext],
        size_bytes=len(f.data),
        sha256=f.sha256,
        at=utcnow(),
    )
    s.add(row)
    s.flush()
    audit.record(s, user, "attach", entity, str(entity_id), None, audit.snapshot(row))
    return row


def attachments(s: Session, entity: str, entity_id: str | int) -> list[Attachment]:
    """The files of ``entity``/``entity_id``, oldest first (the caller checked the permission)."""
    q = select(Attachment).where(Attachment.entity == entity, Attachment.entity_id == str(entity_id))
    return list(s.scalars(q.order_by(Attachment.id)))


def attachment_file(s: Session, settings: Settings, attachment_id: int) -> tuple[Attachment, Path]:
    """An attachment row and its file on disk (404 when either is missing); the caller then checks
    that the user may see ``row.entity``/``row.entity_id``."""
    row = s.get(Attachment, attachment_id)
    path = _folder(settings, row.entity, row.entity_id) / row.stored_name if row else None
    if row is None or path is None or not path.exists():
        raise NotFoundError(f"attachment {attachment_id}")
    return row, path
