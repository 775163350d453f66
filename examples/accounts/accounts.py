"""A reference application: accounts whose phone numbers are verified by the verification service.

The Feathers account flows (sign-up with a code and an `is_verified` gate, a second factor at login,
a password reset by code, password and phone-number changes with notices), built on the service's
public `/v1` API only, through `verify_client`. SQLite (the standard library) keeps the accounts;
Werkzeug hashes the passwords.

Run it next to the service: `flask --app examples/accounts/accounts run --port 5001` (README.md).
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import sqlite3
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, flash, g, jsonify, redirect, render_template, request, session, url_for
from standardwebhooks import Webhook, WebhookVerificationError
from verify_client import (
    InvalidPhoneNumber,
    MaxAttemptsReached,
    NotFound,
    NotPending,
    OptedOut,
    RateLimited,
    VerifyClient,
    VerifyError,
)
from werkzeug.security import check_password_hash, generate_password_hash
from werkzeug.wrappers import Response as BaseResponse

log = logging.getLogger("accounts")

SECOND_FACTORS = {
    "sms": "A code by SMS",
    "approval_sms": "Approve by replying to an SMS",
    "approval_call": "Approve by pressing a key on a call",
    "totp": "An authenticator app",
}
SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    phone TEXT UNIQUE NOT NULL,
    password_hash TEXT NOT NULL,
    is_verified INTEGER NOT NULL DEFAULT 0,
    second_factor TEXT NOT NULL DEFAULT 'sms',
    factor_id TEXT,
    new_phone TEXT
);
CREATE TABLE IF NOT EXISTS approvals (
    id TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    status TEXT NOT NULL,
    via TEXT NOT NULL DEFAULT 'poll'
);
CREATE TABLE IF NOT EXISTS webhook_events (id TEXT PRIMARY KEY);
"""

# What the pages say (the tests read them too).
WRONG_LOGIN = "Wrong number or password."
NOT_VERIFIED = "Verify your number first: enter the code we sent when you signed up."
CODE_SENT = "We sent a code to {phone}."
CODE_RESENT = "We sent the code again."
WRONG_CODE = "That code is wrong. Try again."
EXPIRED_CODE = "That code has expired or was never sent. Ask for a new one."
TOO_MANY = "Too many wrong codes. Ask for a new one."
WAIT = "Please wait {seconds} seconds before asking again."
VERIFIED = "Your number is verified. You can log in now."
WELCOME = "You are logged in."
TAKEN = "That number already has an account."
BAD_NUMBER = "That is not a valid phone number: give it with its + and country code."
OPTED_OUT = "That number replied STOP to our messages: reply START to receive them again."
UNAVAILABLE = "We could not reach the verification service. Try again in a moment."
RESET_SENT = "If an account uses that number, we sent it a code."
RESET_REFUSED = "That code is wrong or has expired."
RESET_DONE = "Your password was reset. Log in with the new one."
PASSWORD_CHANGED = "Your password was changed."  # noqa: S105 - a message, not a password
WRONG_PASSWORD = "Your password is wrong."  # noqa: S105 - a message, not a password
SHORT_PASSWORD = "Choose a password of at least 8 characters."  # noqa: S105 - a message, not a password
PHONE_CODE_SENT = "We sent a code to {phone}: enter it to move your account there."
PHONE_CHANGED = "Your account's number is now {phone}."
APPROVAL_SENT = "We asked {phone} to approve this login."
APPROVAL_WAITING = "Still waiting for your answer."
APPROVAL_ENDED = "The login was not approved ({status}). Try again."
FACTOR_SAVED = "Your second factor is now: {name}."
TOTP_ON = "Your authenticator app is set up: it gives your login codes from now on."


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """The application; `config` overrides the environment (`VERIFY_URL`, `VERIFY_API_KEY`,
    `WEBHOOK_SECRET`, `DATABASE`, `SECRET_KEY`, `BRAND`)."""
    app = Flask(__name__)
    settings = {
        "VERIFY_URL": "http://127.0.0.1:5000",
        "VERIFY_API_KEY": "",
        "WEBHOOK_SECRET": "",
        "DATABASE": "accounts.sqlite3",
        "SECRET_KEY": "",
        "BRAND": "Acme",
    }
    settings.update({k: os.environ[k] for k in settings if k in os.environ})
    settings.update(config or {})
    app.config.update(settings)
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = secrets.token_hex(32)  # sessions end with the process
    app.extensions["verify"] = VerifyClient(app.config["VERIFY_URL"], app.config["VERIFY_API_KEY"], timeout=5.0)
    with sqlite3.connect(app.config["DATABASE"]) as db:
        db.executescript(SCHEMA)
    app.teardown_appcontext(_close_db)
    _routes(app)
    return app


def verify() -> VerifyClient:
    from flask import current_app

    return current_app.extensions["verify"]


def db() -> sqlite3.Connection:
    from flask import current_app

    if "db" not in g:
        g.db = sqlite3.connect(current_app.config["DATABASE"])
        g.db.row_factory = sqlite3.Row
    return g.db


def _close_db(_exc: BaseException | None) -> None:
    conn = g.pop("db", None)
    if conn is not None:
        conn.close()


def user_by_phone(phone: str) -> sqlite3.Row | None:
    return db().execute("SELECT * FROM users WHERE phone = ?", (normal(phone),)).fetchone()


def user_by_id(user_id: int | None) -> sqlite3.Row | None:
    return db().execute("SELECT * FROM users WHERE id = ?", (user_id,)).fetchone()


def normal(phone: str) -> str:
    """A typed number as we store it (the service's E.164 keeps its `+` and digits)."""
    return re.sub(r"[\s.\-()]", "", phone)


def masked(phone: str) -> str:
    return "•••" + phone[-4:]


def notice(to: str, kind: str) -> None:
    """A notice is a courtesy: the flow goes on when it cannot be sent (opted out, over its limit)."""
    try:
        verify().send_notice(to, kind)
    except VerifyError as exc:
        log.warning("notice %s to %s not sent: %s %s", kind, masked(to), exc.code, exc.message)


def code_error(exc: VerifyError) -> str:
    """What a person is told when the service refuses a start or a check."""
    if isinstance(exc, RateLimited):
        return WAIT.format(seconds=exc.retry_after or 30)
    if isinstance(exc, NotFound | NotPending):
        return EXPIRED_CODE
    if isinstance(exc, MaxAttemptsReached):
        return TOO_MANY
    if isinstance(exc, InvalidPhoneNumber):
        return BAD_NUMBER
    if isinstance(exc, OptedOut):
        return OPTED_OUT
    log.warning("verification service: %s %s", exc.code, exc.message)
    return UNAVAILABLE


def refuse(template: str, message: str, status: int = 400, **context: Any) -> tuple[str, int]:
    flash(message, "error")
    return render_template(template, **context), status


def current_user() -> sqlite3.Row | None:
    return user_by_id(session.get("user_id"))


def log_in(user_id: int) -> BaseResponse:
    session.clear()
    session["user_id"] = user_id
    flash(WELCOME, "info")
    return redirect(url_for("account"))


def _routes(app: Flask) -> None:
    @app.context_processor
    def _globals() -> dict[str, Any]:
        return {"brand": app.config["BRAND"], "factors": SECOND_FACTORS, "user": current_user()}

    # Sign-up ----------------------------------------------------------------------------------
    @app.route("/signup", methods=["GET", "POST"])
    def signup() -> Any:
        if request.method == "GET":
            return render_template("signup.html")
        phone, password = request.form.get("phone", ""), request.form.get("password", "")
        factor = request.form.get("second_factor", "sms")
        if factor not in SECOND_FACTORS or factor == "totp":
            factor = "sms"  # an authenticator app is enrolled once logged in
        if len(password) < 8:
            return refuse("signup.html", SHORT_PASSWORD)
        existing = user_by_phone(phone)
        if existing is not None and existing["is_verified"]:
            return refuse("signup.html", TAKEN, 409)
        try:
            v = verify().start_verification(phone, purpose="signup", client_ip=request.remote_addr)
        except VerifyError as exc:
            return refuse("signup.html", code_error(exc))
        phone = v["to"]
        hashed = generate_password_hash(password)
        db().execute(
            "INSERT INTO users (phone, password_hash, second_factor) VALUES (?, ?, ?) "
            "ON CONFLICT(phone) DO UPDATE SET password_hash = excluded.password_hash, "
            "second_factor = excluded.second_factor WHERE is_verified = 0",
            (phone, hashed, factor),
        )
        db().commit()
        session["signup_phone"] = phone
        flash(CODE_SENT.format(phone=phone), "info")
        return redirect(url_for("signup_verify"))

    @app.route("/signup/verify", methods=["GET", "POST"])
    def signup_verify() -> Any:
        phone = session.get("signup_phone")
        if phone is None:
            return redirect(url_for("signup"))
        if request.method == "GET":
            return render_template("code.html", title="Verify your number", action="signup_verify",
                                   resend="signup_resend", phone=phone)  # fmt: skip
        context = {"title": "Verify your number", "action": "signup_verify", "resend": "signup_resend", "phone": phone}
        try:
            valid = verify().check(phone, request.form.get("code", ""), purpose="signup")
        except VerifyError as exc:
            return refuse("code.html", code_error(exc), **context)
        if not valid:
            return refuse("code.html", WRONG_CODE, 403, **context)
        db().execute("UPDATE users SET is_verified = 1 WHERE phone = ?", (phone,))
        db().commit()
        notice(phone, "number_verified")
        session.pop("signup_phone")
        flash(VERIFIED, "info")
        return redirect(url_for("login"))

    @app.post("/signup/resend")
    def signup_resend() -> BaseResponse:
        phone = session.get("signup_phone")
        if phone is None:
            return redirect(url_for("signup"))
        try:
            verify().start_verification(phone, purpose="signup", client_ip=request.remote_addr)
            flash(CODE_RESENT, "info")
        except VerifyError as exc:
            flash(code_error(exc), "error")
        return redirect(url_for("signup_verify"))

    # Log in: password, then the second factor the user chose ------------------------------------
    @app.route("/login", methods=["GET", "POST"])
    def login() -> Any:
        if request.method == "GET":
            return render_template("login.html")
        user = user_by_phone(request.form.get("phone", ""))
        if user is None or not check_password_hash(user["password_hash"], request.form.get("password", "")):
            return refuse("login.html", WRONG_LOGIN, 401)
        if not user["is_verified"]:
            session["signup_phone"] = user["phone"]
            return refuse("login.html", NOT_VERIFIED, 403, unverified=True)
        session.clear()
        session["pending_user"] = user["id"]
        factor = user["second_factor"]
        try:
            if factor == "totp":
                return redirect(url_for("login_totp"))
            if factor in ("approval_sms", "approval_call"):
                a = verify().start_approval(
                    user["phone"], f"Log in to {app.config['BRAND']}", channel=factor.removeprefix("approval_"),
                    details={"From": (request.remote_addr or "unknown")[:64]}, hidden_details={"user": str(user["id"])},
                )  # fmt: skip
                db().execute("INSERT INTO approvals (id, user_id, status) VALUES (?, ?, ?)",
                             (a["id"], user["id"], a["status"]))  # fmt: skip
                db().commit()
                session["approval_id"] = a["id"]
                flash(APPROVAL_SENT.format(phone=masked(user["phone"])), "info")
                return redirect(url_for("login_approval"))
            verify().start_verification(user["phone"], purpose="login", client_ip=request.remote_addr)
        except VerifyError as exc:
            session.clear()
            return refuse("login.html", code_error(exc), 503 if exc.code == "unreachable" else 400)
        flash(CODE_SENT.format(phone=masked(user["phone"])), "info")
        return redirect(url_for("login_code"))

    def pending_user() -> sqlite3.Row | None:
        return user_by_id(session.get("pending_user"))

    @app.route("/login/code", methods=["GET", "POST"])
    def login_code() -> Any:
        user = pending_user()
        if user is None:
            return redirect(url_for("login"))
        context = {"title": "Enter your login code", "action": "login_code", "resend": "login_resend",
                   "phone": masked(user["phone"])}  # fmt: skip
        if request.method == "GET":
            return render_template("code.html", **context)
        try:
            valid = verify().check(user["phone"], request.form.get("code", ""), purpose="login")
        except VerifyError as exc:
            return refuse("code.html", code_error(exc), **context)
        if not valid:
            return refuse("code.html", WRONG_CODE, 403, **context)
        return log_in(user["id"])

    @app.post("/login/resend")
    def login_resend() -> BaseResponse:
        user = pending_user()
        if user is None:
            return redirect(url_for("login"))
        try:
            verify().start_verification(user["phone"], purpose="login", client_ip=request.remote_addr)
            flash(CODE_RESENT, "info")
        except VerifyError as exc:
            flash(code_error(exc), "error")
        return redirect(url_for("login_code"))

    @app.route("/login/totp", methods=["GET", "POST"])
    def login_totp() -> Any:
        user = pending_user()
        if user is None or not user["factor_id"]:
            return redirect(url_for("login"))
        context = {"title": "Enter the code of your authenticator app", "action": "login_totp"}
        if request.method == "GET":
            return render_template("code.html", **context)
        try:
            valid = verify().check_factor(user["factor_id"], request.form.get("code", ""))
        except VerifyError as exc:
            return refuse("code.html", code_error(exc), 429 if isinstance(exc, RateLimited) else 400, **context)
        if not valid:
            return refuse("code.html", WRONG_CODE, 403, **context)
        return log_in(user["id"])

    def approval_status() -> str:
        """The pending login's approval: as the webhook recorded it, else as the service says now."""
        approval_id = session.get("approval_id", "")
        row = db().execute("SELECT status FROM approvals WHERE id = ? AND user_id = ?",
                           (approval_id, session.get("pending_user"))).fetchone()  # fmt: skip
        if row is None:
            return "unknown"
        if row["status"] != "pending":
            return row["status"]
        try:
            status = verify().get_approval(approval_id)["status"]
        except VerifyError as exc:
            log.warning("polling %s: %s", approval_id, exc.code)
            return "pending"
        db().execute("UPDATE approvals SET status = ? WHERE id = ? AND status = 'pending'", (status, approval_id))
        db().commit()
        return status

    @app.route("/login/approval", methods=["GET", "POST"])
    def login_approval() -> Any:
        user = pending_user()
        if user is None or "approval_id" not in session:
            return redirect(url_for("login"))
        if request.method == "GET":
            return render_template("approval.html")
        status = approval_status()
        if status == "approved":
            return log_in(user["id"])
        if status == "pending":
            return refuse("approval.html", APPROVAL_WAITING, 202)
        session.clear()
        flash(APPROVAL_ENDED.format(status=status), "error")
        return redirect(url_for("login"))

    @app.get("/login/approval/status")
    def login_approval_status() -> Response:
        """For the waiting page's script: it polls this, then posts the form once it is no longer pending."""
        return jsonify({"status": approval_status() if pending_user() else "unknown"})

    @app.post("/webhook")
    def webhook() -> tuple[str, int]:
        """The service's lifecycle events, signed per Standard Webhooks."""
        try:
            event = Webhook(app.config["WEBHOOK_SECRET"]).verify(request.get_data(), dict(request.headers))
        except (WebhookVerificationError, ValueError):
            return "bad signature", 400
        seen = db().execute("INSERT OR IGNORE INTO webhook_events (id) VALUES (?)", (request.headers["webhook-id"],))
        if seen.rowcount and event["type"].startswith("approval."):
            data = event["data"]
            db().execute("UPDATE approvals SET status = ?, via = 'webhook' WHERE id = ? AND status = 'pending'",
                         (data["status"], data["id"]))  # fmt: skip
        db().commit()
        return "", 204

    @app.post("/logout")
    def logout() -> BaseResponse:
        session.clear()
        return redirect(url_for("login"))

    # Password reset by code ---------------------------------------------------------------------
    @app.route("/reset", methods=["GET", "POST"])
    def reset() -> Any:
        if request.method == "GET":
            return render_template("reset.html")
        phone = normal(request.form.get("phone", ""))
        user = user_by_phone(phone)
        if user is not None:
            try:
                verify().start_verification(user["phone"], purpose="password_reset", client_ip=request.remote_addr)
            except VerifyError as exc:  # said to nobody: the answer must not tell known numbers apart
                log.warning("reset code to %s not sent: %s", masked(phone), exc.code)
        session["reset_phone"] = phone
        flash(RESET_SENT, "info")
        return redirect(url_for("reset_confirm"))

    @app.route("/reset/confirm", methods=["GET", "POST"])
    def reset_confirm() -> Any:
        phone = session.get("reset_phone")
        if phone is None:
            return redirect(url_for("reset"))
        if request.method == "GET":
            return render_template("reset_confirm.html")
        password = request.form.get("password", "")
        if len(password) < 8:
            return refuse("reset_confirm.html", SHORT_PASSWORD)
        # Asked for unknown numbers too (the service then has no pending code: 404). Wrong, expired
        # and never sent answer alike, so this page cannot tell which numbers have an account.
        try:
            valid = verify().check(phone, request.form.get("code", ""), purpose="password_reset")
        except (NotFound, NotPending, MaxAttemptsReached, RateLimited):
            valid = False
        except VerifyError as exc:
            return refuse("reset_confirm.html", code_error(exc), 503)
        if not valid:
            return refuse("reset_confirm.html", RESET_REFUSED, 403)
        user = user_by_phone(phone)
        if user is not None:
            db().execute("UPDATE users SET password_hash = ?, is_verified = 1 WHERE id = ?",
                         (generate_password_hash(password), user["id"]))  # fmt: skip
            db().commit()
            notice(user["phone"], "password_reset")
        session.pop("reset_phone")
        flash(RESET_DONE, "info")
        return redirect(url_for("login"))

    # The account: second factor, password, phone number -----------------------------------------
    @app.get("/")
    def account() -> Any:
        if current_user() is None:
            return redirect(url_for("login"))
        return render_template("account.html")

    @app.post("/account/factor")
    def account_factor() -> BaseResponse:
        user = current_user()
        if user is None:
            return redirect(url_for("login"))
        factor = request.form.get("second_factor", "")
        if factor == "totp" and not user["factor_id"]:
            return redirect(url_for("account_totp"))
        if factor in SECOND_FACTORS:
            db().execute("UPDATE users SET second_factor = ? WHERE id = ?", (factor, user["id"]))
            db().commit()
            flash(FACTOR_SAVED.format(name=SECOND_FACTORS[factor]), "info")
        return redirect(url_for("account"))

    @app.route("/account/totp", methods=["GET", "POST"])
    def account_totp() -> Any:
        user = current_user()
        if user is None:
            return redirect(url_for("login"))
        if request.method == "GET":
            try:
                factor = verify().create_factor(f"acct-{user['id']}-{secrets.token_hex(4)}", user["phone"],
                                                app.config["BRAND"])  # fmt: skip
            except VerifyError as exc:
                flash(code_error(exc), "error")
                return redirect(url_for("account"))
            session["enrolling"] = factor["id"]
            return render_template("totp.html", factor=factor)
        factor_id = session.get("enrolling", "")
        try:
            valid = verify().verify_factor(factor_id, request.form.get("code", ""))
        except VerifyError as exc:
            flash(code_error(exc), "error")
            return redirect(url_for("account"))
        if not valid:
            flash(WRONG_CODE, "error")
            return render_template("totp.html", factor=None), 403
        if user["factor_id"]:
            try:
                verify().delete_factor(user["factor_id"])
            except VerifyError as exc:
                log.warning("old factor not deleted: %s", exc.code)
        db().execute("UPDATE users SET factor_id = ?, second_factor = 'totp' WHERE id = ?", (factor_id, user["id"]))
        db().commit()
        session.pop("enrolling")
        flash(TOTP_ON, "info")
        return redirect(url_for("account"))

    @app.post("/account/password")
    def account_password() -> Any:
        user = current_user()
        if user is None:
            return redirect(url_for("login"))
        if not check_password_hash(user["password_hash"], request.form.get("current", "")):
            return refuse("account.html", WRONG_PASSWORD, 403)
        new = request.form.get("password", "")
        if len(new) < 8:
            return refuse("account.html", SHORT_PASSWORD)
        db().execute("UPDATE users SET password_hash = ? WHERE id = ?", (generate_password_hash(new), user["id"]))
        db().commit()
        notice(user["phone"], "password_changed")
        flash(PASSWORD_CHANGED, "info")
        return redirect(url_for("account"))

    @app.post("/account/phone")
    def account_phone() -> Any:
        user = current_user()
        if user is None:
            return redirect(url_for("login"))
        if not check_password_hash(user["password_hash"], request.form.get("current", "")):
            return refuse("account.html", WRONG_PASSWORD, 403)
        if user_by_phone(request.form.get("phone", "")) is not None:
            return refuse("account.html", TAKEN, 409)
        try:
            v = verify().start_verification(request.form.get("phone", ""), purpose="phone_change",
                                            client_ip=request.remote_addr)  # fmt: skip
        except VerifyError as exc:
            return refuse("account.html", code_error(exc))
        db().execute("UPDATE users SET new_phone = ? WHERE id = ?", (v["to"], user["id"]))
        db().commit()
        notice(user["phone"], "phone_change_requested")
        flash(PHONE_CODE_SENT.format(phone=v["to"]), "info")
        return redirect(url_for("account_phone_confirm"))

    @app.route("/account/phone/confirm", methods=["GET", "POST"])
    def account_phone_confirm() -> Any:
        user = current_user()
        if user is None or not user["new_phone"]:
            return redirect(url_for("account"))
        new = user["new_phone"]
        context = {"title": "Confirm your new number", "action": "account_phone_confirm", "phone": new}
        if request.method == "GET":
            return render_template("code.html", **context)
        try:
            valid = verify().check(new, request.form.get("code", ""), purpose="phone_change")
        except VerifyError as exc:
            return refuse("code.html", code_error(exc), **context)
        if not valid:
            return refuse("code.html", WRONG_CODE, 403, **context)
        try:
            db().execute("UPDATE users SET phone = ?, new_phone = NULL WHERE id = ?", (new, user["id"]))
            db().commit()
        except sqlite3.IntegrityError:  # someone signed up with it meanwhile
            return refuse("account.html", TAKEN, 409)
        notice(user["phone"], "phone_changed")
        notice(new, "phone_changed")
        flash(PHONE_CHANGED.format(phone=new), "info")
        return redirect(url_for("account"))
