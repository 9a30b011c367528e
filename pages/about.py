"""关于本系统, open to anyone: what the system is, and the public keys that audit exports are
signed with, so that anyone holding an export can check it without trusting the server
(engine.audit.signing publishes them; engine.reading.export_verify and `unionflow audit verify` check).
"""
from __future__ import annotations

from flask import Blueprint, Response, render_template, request
from flask_babel import gettext as _

from engine.audit.signing import public_key_pem, published_keys
from engine.base.errors import NotFound
from web.database import request_session

bp = Blueprint("about", __name__)


@bp.route("/about")
def about():
    keys = published_keys(request_session())
    return render_template("about.html", keys=[(key, public_key_pem(key.public_key)) for key in keys])


@bp.route("/about/audit-public-key.pem")
def public_key():
    """The current key as a PEM file; ``?key=<key id>`` for an earlier one (older exports)."""
    wanted = request.args.get("key")
    keys = published_keys(request_session())
    key = next((k for k in keys if k.key_id == wanted), None) if wanted else \
        next((k for k in keys if k.retired_dt is None), None)
    if key is None:
        raise NotFound(_("没有这个签名公钥") if wanted else _("本系统尚未创建审计导出签名密钥"))
    return Response(public_key_pem(key.public_key), content_type="application/x-pem-file", headers={
        "Content-Disposition": f'attachment; filename="unionflow-audit-{key.key_id}.pem"',
    })
