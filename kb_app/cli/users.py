"""`kb user` and `kb token`: accounts, passwords and API tokens for automation."""

from __future__ import annotations

import sys

import click

from kb_app import db, users
from kb_app.cli._common import UserError, echo_json, json_option
from kb_app.cli.db import cli_actor, database_option, open_current_engine
from kb_app.models import ROLES


def _read_password(from_stdin: bool, email: str) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt(f"Password for {email}", hide_input=True, confirmation_prompt=True)
    try:
        users.check_password_policy(password, email=email)
    except users.AccountError as exc:
        raise UserError(str(exc)) from None
    return password


def _session(database_url: str | None):
    engine = open_current_engine(database_url)
    return engine, db.session_factory(engine)()


def _user(session, email: str):
    user = users.user_by_email(session, email)
    if user is None:
        raise UserError(f"no user with email {email}")
    return user


@click.group("user")
def user_group() -> None:
    """Accounts: agents, partner managers, trainers, admins."""


@user_group.command("create")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--email", required=True)
@click.option("--name", default="", help="Display name (agents default to their roster name).")
@click.option("--vendor", help="Vendor code; partner managers only.")
@click.option("--employee-id", help="Roster entry; agents only.")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@click.option("--no-password", is_flag=True, help="No password: the user signs in through the SSO header only.")
@database_option
@json_option
def create_command(role, email, name, vendor, employee_id, password_stdin, no_password, database_url, as_json) -> None:
    """Create a user. Prompts for the password unless --password-stdin or --no-password."""
    password = None if no_password else _read_password(password_stdin, users.normalize_email(email))
    engine, session = _session(database_url)
    try:
        with session:
            try:
                user = users.create_user(
                    session,
                    email=email,
                    role=role,
                    name=name,
                    vendor=vendor,
                    employee_id=employee_id,
                    password=password,
                    actor=cli_actor(),
                )
            except users.AccountError as exc:
                raise UserError(str(exc)) from None
            session.commit()
            result = {
                "id": user.id,
                "email": user.email,
                "role": user.role,
                "vendor": user.vendor,
                "employee_id": user.agent.employee_id if user.agent else None,
            }
    finally:
        engine.dispose()
    if as_json:
        echo_json(result)
    else:
        scope = (
            f" for {result['vendor']}"
            if result["vendor"]
            else (f" ({result['employee_id']})" if result["employee_id"] else "")
        )
        click.echo(f"created {result['role']} {result['email']}{scope}")


@user_group.command("set-password")
@click.option("--email", required=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@database_option
def set_password_command(email: str, password_stdin: bool, database_url: str | None) -> None:
    """Set a user's password; their open sessions are signed out."""
    engine, session = _session(database_url)
    try:
        with session:
            user = _user(session, email)
            password = _read_password(password_stdin, user.email)
            try:
                users.set_password(session, user, password, actor=cli_actor())
            except users.AccountError as exc:
                raise UserError(str(exc)) from None
            session.commit()
    finally:
        engine.dispose()
    click.echo(f"password set for {users.normalize_email(email)}")


@user_group.command("deactivate")
@click.option("--email", required=True)
@database_option
def deactivate_command(email: str, database_url: str | None) -> None:
    """Stop a user signing in; their sessions end and their tokens are revoked."""
    engine, session = _session(database_url)
    try:
        with session:
            users.deactivate_user(session, _user(session, email), actor=cli_actor())
            session.commit()
    finally:
        engine.dispose()
    click.echo(f"deactivated {users.normalize_email(email)}")


@user_group.command("list")
@database_option
@json_option
def list_command(database_url: str | None, as_json: bool) -> None:
    """List users."""
    engine, session = _session(database_url)
    try:
        with session:
            rows = [
                {
                    "id": u.id,
                    "email": u.email,
                    "name": u.display_name,
                    "role": u.role,
                    "vendor": u.vendor,
                    "employee_id": u.agent.employee_id if u.agent else None,
                    "active": u.active,
                    "last_login_at": u.last_login_at.isoformat() if u.last_login_at else None,
                }
                for u in users.list_users(session)
            ]
    finally:
        engine.dispose()
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        scope = row["vendor"] or row["employee_id"] or ""
        state = "" if row["active"] else "  (inactive)"
        click.echo(f"{row['id']:>4}  {row['role']:<15} {row['email']:<40} {scope}{state}")


@click.group("token")
def token_group() -> None:
    """API tokens for automation (Bearer auth on /api/v1)."""


@token_group.command("create")
@click.option("--user", "email", required=True, help="Email of the user the token acts as.")
@click.option("--name", required=True, help="What uses the token, e.g. workforce-sync.")
@database_option
@json_option
def token_create_command(email: str, name: str, database_url: str | None, as_json: bool) -> None:
    """Create a token. The secret is printed once and cannot be shown again."""
    engine, session = _session(database_url)
    try:
        with session:
            try:
                new = users.create_token(session, _user(session, email), name, actor=cli_actor())
            except users.AccountError as exc:
                raise UserError(str(exc)) from None
            session.commit()
            result = {"id": new.token.id, "user": new.token.user.email, "name": new.token.name, "token": new.secret}
    finally:
        engine.dispose()
    if as_json:
        echo_json(result)
    else:
        click.echo(
            f"token {result['id']} ({result['name']}) for {result['user']}; store it now, it is not shown again:",
            err=True,
        )
        click.echo(result["token"])


@token_group.command("list")
@click.option("--user", "email", help="Only this user's tokens.")
@database_option
@json_option
def token_list_command(email: str | None, database_url: str | None, as_json: bool) -> None:
    """List tokens (never their secrets)."""
    engine, session = _session(database_url)
    try:
        with session:
            owner = _user(session, email) if email else None
            rows = [
                {
                    "id": t.id,
                    "user": t.user.email,
                    "name": t.name,
                    "prefix": t.prefix,
                    "created_at": t.created_at.isoformat(),
                    "last_used_at": t.last_used_at.isoformat() if t.last_used_at else None,
                    "revoked_at": t.revoked_at.isoformat() if t.revoked_at else None,
                }
                for t in users.user_tokens(session, owner)
            ]
    finally:
        engine.dispose()
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        state = f"revoked {row['revoked_at'][:10]}" if row["revoked_at"] else "active"
        used = row["last_used_at"][:16] if row["last_used_at"] else "never used"
        click.echo(f"{row['id']:>4}  {row['user']:<36} {row['name']:<24} {row['prefix']}…  {used:<16}  {state}")


@token_group.command("revoke")
@click.argument("token_id", type=int, required=False)
@click.option("--user", "email", help="With --name: revoke this user's token by name.")
@click.option("--name", help="Token name (with --user).")
@database_option
def token_revoke_command(token_id: int | None, email: str | None, name: str | None, database_url: str | None) -> None:
    """Revoke a token by TOKEN_ID (see `kb token list`), or by --user and --name."""
    if token_id is None and not (email and name):
        raise click.UsageError("give a TOKEN_ID, or --user and --name")
    engine, session = _session(database_url)
    try:
        with session:
            owner = _user(session, email) if email else None
            found = users.find_tokens(session, token_id=token_id, user=owner, name=name)
            if not found:
                raise UserError("no active token matches")
            for token in found:
                users.revoke_token(session, token, actor=cli_actor())
            session.commit()
            revoked = [f"{t.id} ({t.name}, {t.user.email})" for t in found]
    finally:
        engine.dispose()
    for line in revoked:
        click.echo(f"revoked token {line}")


def register(main: click.Group) -> None:
    main.add_command(user_group)
    main.add_command(token_group)
