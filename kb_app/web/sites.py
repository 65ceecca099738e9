"""The built MkDocs sites behind login, one build per audience.

A user is only ever served files from their own audience's build folder, so a Tier 1 user
cannot reach Tier 2-only pages by any URL: those pages are simply not in the T1 build.
Trainers and admins also get each audience's preview build (drafts included) under
/sop-preview/<tier>/. Every page served gets the app's bar (navigation for the reader's role,
their name, sign out) where the site left its marker, rendered for this request.
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import lru_cache
from pathlib import Path

from flask import Blueprint, abort, current_app, redirect, render_template, request, send_file, session, url_for
from flask_login import login_required
from flask_wtf.csrf import generate_csrf
from werkzeug.security import safe_join

from kb_app import users
from kb_app.catalog.languages import is_iso639_1
from kb_app.sites.staging import language_site, preview_key
from kb_app.web.context import roles_required, signed_in_user

bp = Blueprint("sites", __name__)

# MkDocs Material writes a few small inline scripts per page; they are allowed by hash, so the
# policy still has no 'unsafe-inline' for scripts. Inline style attributes are part of the theme.
SITE_CSP = (
    "default-src 'self'; script-src 'self' {hashes}; "
    "style-src 'self' 'unsafe-inline' https://fonts.googleapis.com; "
    "font-src 'self' data: https://fonts.gstatic.com; img-src 'self' data:; connect-src 'self'; "
    "worker-src 'self' blob:; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)
_INLINE_SCRIPT = re.compile(rb"<script\b([^>]*)>(.*?)</script\s*>", re.IGNORECASE | re.DOTALL)
_SCRIPT_TYPE = re.compile(rb"""\btype\s*=\s*["']?([^"'\s>]+)""", re.IGNORECASE)
_JS_TYPES = {b"", b"text/javascript", b"application/javascript", b"module"}


LANGUAGE_CHOICE = "kb_lang"  # session key of the language picked with the switcher
APP_BAR_MARKER = "<!--kb:app-bar-->"  # where site_config/overrides/main.html wants the app's bar
CSRF_SLOT = "\x00kb:csrf\x00"  # the bar's CSRF token until the page's entity tag is taken (no page has NULs)
PREVIEW_ROLES = ("trainer", "admin")


def reading_language(user) -> str:
    """The language a reader is served: their pick in the switcher, else their roster language."""
    return users.reading_language(user, session.get(LANGUAGE_CHOICE))


def site_root(user) -> Path:
    return language_site(Path(current_app.config["SITE_DIR"]), users.audience_of(user), reading_language(user))


@bp.get("/sop")
@login_required
def sop_root_redirect():
    return redirect("/sop/", code=301)


@bp.get("/sop/", defaults={"path": ""})
@bp.get("/sop/<path:path>")
@login_required
def sop(path: str):
    user = signed_in_user()
    if LANGUAGE_CHOICE in request.args:
        # The switcher's `?kb_lang=xx`: remember the pick, then serve the same page without it.
        choice = request.args.get(LANGUAGE_CHOICE, "")
        if is_iso639_1(choice):
            session[LANGUAGE_CHOICE] = choice
        return redirect(request.path, code=303)
    root = site_root(user)
    if not (root / "index.html").is_file():
        return render_template("errors/site_missing.html", audience=users.audience_of(user)), 503
    return _serve(root, path, server_search=True)


@bp.get("/sop-preview/<any(T1, T2):tier>/", defaults={"path": ""})
@bp.get("/sop-preview/<any(T1, T2):tier>/<path:path>")
@roles_required(*PREVIEW_ROLES)
def preview(tier: str, path: str):
    """The preview build of an audience's site: what its agents will read, drafts included."""
    root = Path(current_app.config["SITE_DIR"]) / preview_key(tier)
    if not (root / "index.html").is_file():
        abort(404, description="No preview is built yet: `kb build-site` builds it with the sites.")
    return _serve(root, path, server_search=False)


def _serve(root: Path, path: str, *, server_search: bool):
    """A file of a built site; a page gets the app's bar (`server_search`: the search box asks
    the server's index as you type, else the site's built-in search stays)."""
    target = _resolve(root, path)
    if target.is_dir():
        if not request.path.endswith("/"):
            query = request.query_string.decode("latin-1")
            return redirect(request.path + "/" + (f"?{query}" if query else ""), code=301)
        target = target / "index.html"
        if not target.is_file():
            abort(404)
    if target.suffix.lower() in (".html", ".htm"):
        page = with_app_bar(target.read_text(encoding="utf-8"), server_search)
        # The entity tag names the page and the reader's bar, not the CSRF token of its sign-out
        # form (signed anew every second): a revalidation gets its 304 while the page is the same.
        etag = hashlib.sha256(page.encode("utf-8")).hexdigest()[:32]
        response = current_app.response_class(page.replace(CSRF_SLOT, generate_csrf(), 1))
        response.mimetype = "text/html"
        response.set_etag(etag)
        response.make_conditional(request)
        response.headers["Content-Security-Policy"] = site_csp(target)
    else:
        response = send_file(target, conditional=True, max_age=0)
    response.headers["Cache-Control"] = "private, no-cache"
    response.vary.add("Cookie")
    return response


def with_app_bar(page: str, server_search: bool) -> str:
    """The page with the app's bar for the signed-in reader in place of the site's marker."""
    if APP_BAR_MARKER not in page:
        return page
    bar = render_template(
        "sites/app_bar.html",
        search_api=url_for("api.search_api") if server_search else "",
        search_page=url_for("search.search_page"),
        csrf_slot=CSRF_SLOT,
    )
    return page.replace(APP_BAR_MARKER, bar, 1)


def _resolve(root: Path, path: str) -> Path:
    """The file or folder `path` names inside `root`; 404 for anything that would leave it."""
    if "\x00" in path:
        abort(404)
    joined = safe_join(str(root), path) if path else str(root)
    if joined is None:
        abort(404)
    target = Path(joined)
    try:
        resolved = target.resolve()
        inside = resolved == root.resolve() or root.resolve() in resolved.parents
        exists = target.exists()
    except (OSError, ValueError):
        abort(404)
    if not inside or not exists:
        abort(404)
    return target


def site_csp(page: Path) -> str:
    stat = page.stat()
    return _csp_for(str(page), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=512)
def _csp_for(path: str, _mtime_ns: int, _size: int) -> str:
    hashes = sorted(set(inline_script_hashes(Path(path).read_bytes())))
    return SITE_CSP.format(hashes=" ".join(f"'{h}'" for h in hashes)).replace("  ", " ")


def inline_script_hashes(html: bytes) -> list[str]:
    """CSP source expressions (sha256-...) for the executable inline scripts of a page."""
    found = []
    for attributes, body in _INLINE_SCRIPT.findall(html):
        if re.search(rb"\bsrc\s*=", attributes, re.IGNORECASE):
            continue
        kind = _SCRIPT_TYPE.search(attributes)
        if kind is not None and kind.group(1).lower() not in _JS_TYPES:
            continue  # data blocks such as application/json never run
        digest = base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")
        found.append(f"sha256-{digest}")
    return found
