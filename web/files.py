"""Files over HTTP, one way for both faces: the app-wide cap on a request body, reading an upload,
serving an attachment as a download or (PDFs and images) in the page."""
from __future__ import annotations

import mimetypes
import os

from flask import Flask, Response, current_app, send_file
from werkzeug.datastructures import FileStorage

from engine.base.errors import NotFound
from engine.base.sizes import MB
from engine.cases.attachments import Attachment, FileStore
from engine.definitions.spec import MAX_FILE_SIZE_MB

# The largest file a definition may allow, plus room for the multipart envelope and form fields.
DEFAULT_MAX_CONTENT_LENGTH = (MAX_FILE_SIZE_MB + 10) * MB


def configure_request_size(app: Flask) -> None:
    """The app-wide cap on a request body (bytes): app config ``MAX_CONTENT_LENGTH``, else
    ``UNIONFLOW_MAX_CONTENT_LENGTH`` in the environment, else 110 MB."""
    if app.config.get("MAX_CONTENT_LENGTH") is None:  # Flask's own default is None: no cap at all
        app.config["MAX_CONTENT_LENGTH"] = int(os.environ.get("UNIONFLOW_MAX_CONTENT_LENGTH", DEFAULT_MAX_CONTENT_LENGTH))


def file_store() -> FileStore:
    return FileStore(current_app.extensions["unionflow"].settings.attachments_dir)


def read_upload(upload: FileStorage) -> tuple[str, str, bytes]:
    """The file's name, its type (from its extension, which the engine checks against the field;
    the type the client declared is not trusted) and its bytes."""
    content_type = mimetypes.guess_type(upload.filename)[0] or "application/octet-stream"
    return upload.filename, content_type, upload.read()


def attachment_download(attachment: Attachment) -> Response:
    """The attachment as a download, from the page and the API alike (the caller found it through
    engine.cases.attachments.get_attachment, which checks that the reader may see the case)."""
    response = send_file(file_store().path_for(attachment.sha256), mimetype=attachment.content_type,
                         as_attachment=True, download_name=attachment.filename, max_age=0)
    # Never rendered in place: the browser must not guess a type, nor run anything the file holds.
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, no-store"
    return response


# What the page may show in place, by the file's name, with the bytes each kind must begin with: the
# browser's own PDF viewer and image decoder only. Everything else (HTML and SVG above all, which
# would run in the site's origin) is only ever downloaded.
PREVIEW_TYPES = {
    "pdf": ("application/pdf", (b"%PDF-",)),
    "png": ("image/png", (b"\x89PNG\r\n\x1a\n",)),
    "jpg": ("image/jpeg", (b"\xff\xd8\xff",)),
    "jpeg": ("image/jpeg", (b"\xff\xd8\xff",)),
}

# The framed file fetches nothing, runs nothing of ours, and may be framed by our own pages only.
PREVIEW_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'self'; sandbox"


def preview_kind(attachment: Attachment) -> str | None:
    """"pdf" or "image" when the page may show the file in place (by its name), else None."""
    extension = _extension(attachment.filename)
    if extension not in PREVIEW_TYPES:
        return None
    return "pdf" if extension == "pdf" else "image"


def _extension(filename: str) -> str:
    return filename.rpartition(".")[2].lower() if "." in filename else ""


def attachment_preview(attachment: Attachment) -> Response:
    """The attachment shown in place (a PDF in a frame, an image), for the same readers as the
    download. The type sent is ours, from the name, and the bytes must start as that type says:
    a file that does not (an HTML page named .png) is refused here and stays a download."""
    if preview_kind(attachment) is None:
        raise NotFound("此类文件不能在页面中预览，请下载查看")
    mimetype, signatures = PREVIEW_TYPES[_extension(attachment.filename)]
    path = file_store().path_for(attachment.sha256)
    with path.open("rb") as stream:
        head = stream.read(8)
    if not head.startswith(signatures):
        raise NotFound("文件内容与类型不符，不能预览，请下载查看")
    response = send_file(path, mimetype=mimetype, as_attachment=False, download_name=attachment.filename, max_age=0)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = PREVIEW_SECURITY_POLICY
    response.headers["X-Frame-Options"] = "SAMEORIGIN"  # the site's own default is DENY
    response.headers["Cache-Control"] = "private, no-store"
    return response
