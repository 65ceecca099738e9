"""Sign in, sign out and password change."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, Flask, current_app, flash, g, redirect, render_template, request, session, url_for
from flask_limiter import Limiter
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from kb_app import users
from kb_app.web.context import SignedIn, client_ip, get_session, signed_in_user

bp = Blueprint("auth", __name__)


class LoginForm(FlaskForm):
    identifier = StringField("Email or employee id", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])
    next = HiddenField()


class PasswordChangeForm(FlaskForm):
    current = PasswordField("Current password", validators=[DataRequired()])
    new = PasswordField(
        "New password",
        validators=[DataRequired(), Length(min=users.MIN_PASSWORD_LENGTH, max=1024)],
    )
    confirm = PasswordField("Repeat new password", validators=[DataRequired(), EqualTo("new", "The passwords differ.")])


class LogoutForm(FlaskForm):
    pass


def apply_rate_limits(app: Flask, limiter: Limiter) -> None:
    """Limit failed sign-in attempts per client address and per attempted identifier."""
    view = app.view_functions["auth.login"]
    view = limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"], deduct_when=_failed)(view)
    view = limiter.limit(
        lambda: current_app.config["LOGIN_IDENTIFIER_RATE_LIMIT"],
        methods=["POST"],
        deduct_when=_failed,
        key_func=_account_key,
        scope="login-identifier",
    )(view)
    app.view_functions["auth.login"] = view


def _account_key() -> str:
    """The account the typed identifier names (its e-mail and its employee id are one account,
    one budget of guesses); the typed text only when it names no account."""
    typed = (request.form.get("identifier") or "").strip()[:254]
    user = users.user_by_identifier(get_session(), typed) if typed else None
    return f"account:{user.id}" if user is not None else "id:" + typed.lower()


def _failed(response) -> bool:
    return response.status_code != 302


def _safe_next(target: str | None) -> str:
    """Only same-site paths are followed after sign-in (no open redirects)."""
    if not target:
        return url_for("main.home")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return url_for("main.home")
    return target


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_app.config.get("TRUSTED_HEADER"):
        return render_template("auth/sso.html"), 401
    if current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next")))
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if form.validate_on_submit():
        db = get_session()
        user = users.authenticate(db, form.identifier.data, form.password.data, ip=client_ip())
        db.commit()
        if user is not None:
            g.kb_user_id = user.id
            session.clear()
            login_user(SignedIn(user))
            session.permanent = True
            return redirect(_safe_next(form.next.data))
        flash("That email or password is not right, or the account is not active.", "error")
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
def logout():
    form = LogoutForm()
    if not form.validate_on_submit():
        return redirect(url_for("main.home"))
    if current_user.is_authenticated and current_user.via == "session":
        db = get_session()
        users.sign_out_everywhere(db, signed_in_user(), ip=client_ip())
        db.commit()
    logout_user()
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    user = signed_in_user()
    if current_user.via != "session":
        flash("Your password is managed by single sign-on.", "info")
        return redirect(url_for("main.home"))
    form = PasswordChangeForm()
    if form.validate_on_submit():
        db = get_session()
        try:
            users.change_password(db, user, form.current.data, form.new.data, ip=client_ip())
        except users.AccountError as exc:
            db.rollback()
            flash(str(exc).capitalize() + ".", "error")
        else:
            db.commit()
            # The nonce changed: every other session is now signed out; keep this one.
            login_user(SignedIn(user))
            flash("Password changed. Other sessions were signed out.", "info")
            return redirect(url_for("main.home"))
    return render_template("auth/password.html", form=form)
