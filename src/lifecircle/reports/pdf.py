"""Print an HTML file to PDF with headless Chromium (Debian ``chromium``; ``LIFECIRCLE_CHROMIUM``
names another executable): :func:`html_to_pdf`, :func:`find_chromium` and :class:`PdfError`.

Used by the one-plan-per-circle document (:mod:`lifecircle.reports.plan_report`) and the web
report (:mod:`lifecircle.web.report_doc`). The PDF is written atomically; no Chromium process is
left behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from lifecircle.errors import LifecircleError
from lifecircle.i18n import t
from lifecircle.sources.files import atomic_output

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


class PdfError(LifecircleError):
    """The PDF could not be made (no Chromium, or it failed); the HTML is still written."""


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome executable (``LIFECIRCLE_CHROMIUM`` first), or None."""
    env = os.environ.get("LIFECIRCLE_CHROMIUM")
    if env and Path(env).is_file():
        return env
    for name in CHROMIUM_NAMES:
        p = shutil.which(name)
        if p:
            return p
    return None


def html_to_pdf(html_path: str | Path, pdf_path: str | Path, *, timeout_s: float = 120.0, attempts: int = 2) -> Path:
    """Print ``html_path`` to ``pdf_path`` with headless Chromium (A4 and margins from the page's
    CSS, no browser header/footer), atomically. Retries once; raises :class:`PdfError` with the
    reason when no PDF comes out."""
    exe = find_chromium()
    if exe is None:
        raise PdfError(
            t(
                "找不到 chromium，无法生成 PDF（Debian：apt-get install chromium；或设置 LIFECIRCLE_CHROMIUM）",
                "chromium not found; cannot make the PDF (Debian: apt-get install chromium, or set "
                "LIFECIRCLE_CHROMIUM)",
            )
        )
    src = Path(html_path).resolve()
    out = Path(pdf_path)
    last = ""
    for _ in range(max(1, attempts)):
        with tempfile.TemporaryDirectory(prefix="lifecircle-chromium-") as work:
            made = Path(work) / "out.pdf"
            cmd = [
                exe,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--mute-audio",
                f"--user-data-dir={Path(work) / 'profile'}",
                "--no-pdf-header-footer",
                f"--print-to-pdf={made}",
                src.as_uri(),
            ]
            proc = subprocess.Popen(
                cmd,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
                env={**os.environ, "HOME": work},
            )
            try:
                _, err = proc.communicate(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                _, err = proc.communicate()
                last = t(f"chromium 超过 {timeout_s:g} 秒未完成", f"chromium did not finish within {timeout_s:g} s")
                continue
            finally:
                with contextlib.suppress(ProcessLookupError, PermissionError):  # leave no helper process behind
                    os.killpg(proc.pid, signal.SIGKILL)
            if made.is_file() and made.stat().st_size > 1000 and made.read_bytes()[:5] == b"%PDF-":
                with atomic_output(out) as tmp:
                    shutil.copyfile(made, tmp)
                return out
            tail = (err or b"").decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
            last = t(
                f"chromium 未生成 PDF（退出码 {proc.returncode}）：{tail[0]}",
                f"chromium made no PDF (exit {proc.returncode}): {tail[0]}",
            )
    raise PdfError(last)
