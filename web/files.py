"""Files over HTTP, one way for both faces: the app-wide cap on a request body, reading an upload,
serving an attachment, and a file's size as people read it."""
from __future__ import annotations

import mimetypes
import os

from flask import Flask, Response, current_app, send_file
from werkzeug.datastructures import FileStorage

from engine.cases.attachments import Attachment, FileStore
from engine.definitions.spec import MAX_FILE_SIZE_MB

MB = 1024 * 1024

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


def file_size(size_bytes: int) -> str:
    """A file's size as every page shows it (the ``file_size`` filter): "200 B", "1.5 KB", "10 MB"."""
    for unit, scale in (("MB", MB), ("KB", 1024)):
        if size_bytes >= scale:
            return f"{size_bytes / scale:.1f}".removesuffix(".0") + f" {unit}"
    return f"{size_bytes} B"
