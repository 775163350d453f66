"""Typed settings, built once from `.env`, the environment and an explicit mapping, then validated."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dotenv import dotenv_values

from telephony.errors import ConfigError
from telephony.eventlog import RETRY_SCHEDULE
from telephony.limits import DESTINATION_KINDS, Pumping, Rule, parse_rules
from telephony.outbound import Unresolvable, check_destination, new_secret, parse_secret
from telephony.phone import InvalidPhoneNumber, is_region, parse_e164
from telephony.providers import SPECS
from telephony.providers.base import Setting as ProviderSetting
from telephony.store.connect import check_url
from telephony.urls import is_loopback, safe_origin

ENVIRONMENTS = ("development", "test", "production")
# Every table below is read off the providers' own specs (telephony/providers/<name>.py).
PROVIDERS = tuple(SPECS)
VOICE_CAPABLE = tuple(name for name, spec in SPECS.items() if "call" in spec.channels)
# Settings each provider needs before it can be used for any channel.
PROVIDER_SETTINGS: dict[str, tuple[str, ...]] = {
    name: tuple(s.name for s in spec.settings if s.required) for name, spec in SPECS.items()
}
_SETTINGS: dict[str, ProviderSetting] = {s.name: s for spec in SPECS.values() for s in spec.settings}
# Production refuses anything shorter: a bearer token or a key must resist guessing offline too.
MIN_SECRET_LENGTH = 32


@dataclass(frozen=True)
class Settings:
    """Every setting the service reads, already parsed and checked."""

    app_env: str
    secret_key: str
    secret_key_fallbacks: tuple[str, ...]
    api_keys: tuple[str, ...]
    public_base_url: str
    redis_url: str
    sms_providers: tuple[str, ...]
    voice_providers: tuple[str, ...]
    otp_length: int
    otp_ttl: int
    otp_max_checks: int
    otp_max_sends: int
    otp_brand: str
    otp_resend_cooldown: int
    otp_fallback_after: int
    otp_voice_press_key: bool
    otp_voice_machine: str
    provider_timeout: float
    limit_number: tuple[Rule, ...]
    limit_prefix: tuple[Rule, ...]
    limit_country: tuple[Rule, ...]
    limit_ip: tuple[Rule, ...]
    limit_api_key: tuple[Rule, ...]
    limit_replies: tuple[Rule, ...]
    limit_notices: tuple[Rule, ...]
    limit_checks: Rule | None
    allowed_countries: frozenset[str]
    pumping: Pumping | None
    trust_proxy: int
    demo_enabled: bool
    port: int
    credentials: Mapping[str, str] = field(default_factory=dict, repr=False)
    allowed_number_types: frozenset[str] = frozenset()
    metrics_token: str = field(default="", repr=False)
    default_region: str | None = None
    webotp_domain: str | None = None  # OTP_WEBOTP_DOMAIN: SMS end with `@<domain> #<code>`
    account_sid: str = "AC" + "0" * 32  # ACCOUNT_SID: the /v2 API's account (its HTTP Basic user name)
    webhook_url: str = ""  # WEBHOOK_URL: where lifecycle events are POSTed ("" sends none)
    webhook_secret: str = field(default="", repr=False)  # WEBHOOK_SECRET: `whsec_…`, signs them
    webhook_secret_fallbacks: tuple[str, ...] = field(default=(), repr=False)  # older secrets, still signing
    webhook_allow_private: bool = False  # WEBHOOK_ALLOW_PRIVATE: no SSRF guard on webhook URLs
    # WEBHOOK_RETRY_SCHEDULE: seconds before each retry (tests shorten it)
    webhook_retry_schedule: tuple[float, ...] = RETRY_SCHEDULE
    dev_receiver: bool = False  # development without WEBHOOK_URL: events go to this app's /dev/webhook
    # OTP_TEST_NUMBERS: E.164 -> the fixed code its verifications take; nothing is sent to them
    test_numbers: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def hang_up_on_machines(self) -> bool:
        """OTP_VOICE_MACHINE=hangup: ask carriers to detect answering machines, and never speak to one."""
        return self.otp_voice_machine == "hangup"

    @property
    def development(self) -> bool:
        """True in `development` and `test`: the modes where dev-only routes exist."""
        return self.app_env != "production"

    @property
    def webhook_private_allowed(self) -> bool:
        """Whether deliveries may reach loopback and private addresses: `outbound.session(...)`'s argument.

        Production guards them unless WEBHOOK_ALLOW_PRIVATE=1; development and test do not (a
        receiver on this machine is the usual case there, and the URL's form is still checked).
        """
        return self.webhook_allow_private or self.development

    def credential(self, name: str) -> str:
        """A provider setting by its environment name (validated present when the provider is used)."""
        return self.credentials.get(name, "")

    def __repr__(self) -> str:  # secrets stay out of reprs, logs and tracebacks
        return f"Settings(app_env={self.app_env!r}, providers={self.sms_providers}/{self.voice_providers})"


def gather(config: Mapping[str, Any] | None, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Merge the sources: `.env` in the working directory < the environment < `config`."""
    merged: dict[str, str] = {}
    dotenv_file = Path.cwd() / ".env"
    if dotenv_file.is_file():
        merged.update({k: v for k, v in dotenv_values(dotenv_file).items() if v is not None})
    merged.update(os.environ if environ is None else environ)
    merged.update({k: str(v) for k, v in (config or {}).items()})
    return merged


def load_settings(raw: Mapping[str, str]) -> Settings:
    """Parse and validate; raise one `ConfigError` naming every bad or missing variable."""
    problems = _Problems()
    take = problems.take
    env = take(lambda: _choice(raw, "APP_ENV", "production", ENVIRONMENTS), "production")
    production = env == "production"
    default_provider = take(lambda: _choice(raw, "OTP_PROVIDER", "console", PROVIDERS), "console")
    sms = take(lambda: _provider_list(raw, "SMS_PROVIDER", default_provider, PROVIDERS), ())
    voice = take(lambda: _provider_list(raw, "VOICE_PROVIDER", default_provider, VOICE_CAPABLE), ())
    redis_url = raw.get("REDIS_URL", "").strip()
    if redis_url and (why := check_url(redis_url)):
        problems.add(ConfigError("REDIS_URL", why))
    secret = raw.get("SECRET_KEY", "")
    api_keys = _csv(raw.get("API_KEYS", ""))
    if production:
        problems.extend(_refuse_unsafe_production(raw, sms + voice, redis_url, secret, api_keys))
    if secret and len(secret) < 16:
        problems.add(ConfigError("SECRET_KEY", "must be at least 16 characters"))
    # An optional setting is checked whenever it is set, even for a provider not in use.
    optional = {n: take(partial(_provider_setting, raw, s), "") for n, s in _SETTINGS.items() if not s.required}
    checked = dict(optional)  # each provider setting as its check left it (our numbers in E.164)
    for name in sorted({n for p in sms + voice for n in PROVIDER_SETTINGS[p]}):
        setting, provider = _SETTINGS[name], _who_uses(name, sms, voice)
        if setting.sms_alternative and optional.get(setting.sms_alternative) and provider not in voice:
            continue  # SMS through the alternative needs no number of ours (calls do)
        if not raw.get(name, "").strip():
            problems.add(ConfigError(name, f"is required when {provider} is a provider"))
        else:
            checked[name] = take(partial(_provider_setting, raw, setting), "")
    public_base_url = take(lambda: _base_url(raw), "http://127.0.0.1:5000")
    webhook_allow_private = take(lambda: _bool(raw, "WEBHOOK_ALLOW_PRIVATE", False), False)
    webhook_url = take(lambda: _webhook_url(raw, production, webhook_allow_private), "")
    webhook_secret = take(lambda: _webhook_secret(raw), "")
    webhook_fallbacks = take(lambda: _webhook_fallbacks(raw), ())
    port = take(lambda: _int(raw, "PORT", 5000, 1, 65535), 5000)
    dev_receiver = env == "development" and not raw.get("WEBHOOK_URL", "").strip()
    if dev_receiver:  # a newcomer sees callbacks arrive without writing a receiver (webhooks/demo.py)
        webhook_url, webhook_secret = f"http://127.0.0.1:{port}/dev/webhook", webhook_secret or new_secret()
    if env == "development" and not api_keys and not is_loopback(public_base_url):
        problems.add(_open_api(public_base_url))
    settings = Settings(
        app_env=env,
        secret_key=secret or secrets.token_urlsafe(32),
        secret_key_fallbacks=_csv(raw.get("SECRET_KEY_FALLBACKS", "")),
        api_keys=api_keys,
        public_base_url=public_base_url,
        redis_url=redis_url,
        sms_providers=sms,
        voice_providers=voice,
        otp_length=take(lambda: _int(raw, "OTP_LENGTH", 6, 4, 10), 6),
        otp_ttl=take(lambda: _int(raw, "OTP_TTL", 600, 1, 86400), 600),
        otp_max_checks=take(lambda: _int(raw, "OTP_MAX_CHECKS", 5, 1, 100), 5),
        otp_max_sends=take(lambda: _int(raw, "OTP_MAX_SENDS", 5, 1, 20), 5),
        otp_brand=take(lambda: _brand(raw), "Verify"),
        otp_resend_cooldown=take(lambda: _int(raw, "OTP_RESEND_COOLDOWN", 30, 0, 3600), 30),
        otp_fallback_after=take(lambda: _int(raw, "OTP_FALLBACK_AFTER", 60, 5, 3600), 60),
        otp_voice_press_key=take(lambda: _bool(raw, "OTP_VOICE_PRESS_KEY", False), False),
        otp_voice_machine=take(lambda: _choice(raw, "OTP_VOICE_MACHINE", "hangup", ("hangup", "speak")), "hangup"),
        provider_timeout=take(lambda: _float(raw, "PROVIDER_TIMEOUT", 3.0, 0.1, 60.0), 3.0),
        limit_number=take(lambda: _rules(raw, "OTP_LIMIT_NUMBER", "5/600,10/86400"), ()),
        limit_prefix=take(lambda: _rules(raw, "OTP_LIMIT_PREFIX", "30/3600"), ()),
        limit_country=take(lambda: _rules(raw, "OTP_LIMIT_COUNTRY", "1000/3600"), ()),
        limit_ip=take(lambda: _rules(raw, "OTP_LIMIT_IP", "10/600,50/86400"), ()),
        limit_api_key=take(lambda: _rules(raw, "OTP_LIMIT_API_KEY", "1000/3600"), ()),
        limit_replies=take(lambda: _rules(raw, "OTP_LIMIT_REPLIES", "5/3600,20/86400"), ()),
        limit_notices=take(lambda: _rules(raw, "OTP_LIMIT_NOTICES", "5/3600,20/86400"), ()),
        limit_checks=take(lambda: _single_rule(raw, "OTP_LIMIT_CHECKS", "10/14400"), None),
        allowed_countries=take(lambda: _countries(raw), frozenset()),
        pumping=take(lambda: _pumping(raw), None),
        trust_proxy=take(lambda: _int(raw, "TRUST_PROXY", 0, 0, 5), 0),
        demo_enabled=not production or take(lambda: _bool(raw, "DEMO_ENABLED", False), False),
        port=port,
        credentials={n: value for n, value in checked.items() if value},
        allowed_number_types=take(lambda: _number_types(raw), frozenset()),
        metrics_token=raw.get("METRICS_TOKEN", "").strip(),
        default_region=take(lambda: _region(raw), None),
        webotp_domain=take(lambda: _webotp_domain(raw), None),
        account_sid=take(lambda: _account_sid(raw), "AC" + "0" * 32),
        webhook_url=webhook_url,
        webhook_secret=webhook_secret,
        webhook_secret_fallbacks=webhook_fallbacks,
        webhook_allow_private=webhook_allow_private,
        webhook_retry_schedule=take(lambda: _schedule(raw), RETRY_SCHEDULE),
        dev_receiver=dev_receiver,
        test_numbers=take(lambda: _test_numbers(raw), {}),
    )
    if production:
        problems.extend(_refuse_weak_production(settings))
    problems.raise_any()
    return settings


class _Problems:
    """Every bad setting found in one pass, one per variable (the first reason found for it)."""

    def __init__(self) -> None:
        self._found: dict[str, ConfigError] = {}

    def add(self, error: ConfigError) -> None:
        self._found.setdefault(error.variable, error)

    def extend(self, errors: list[ConfigError]) -> None:
        for error in errors:
            self.add(error)

    def take(self, parse: Callable[[], Any], fallback: Any) -> Any:
        """`parse()`, or `fallback` once its error is noted, so the checks that follow still run."""
        try:
            return parse()
        except ConfigError as error:
            self.add(error)
            return fallback

    def raise_any(self) -> None:
        if self._found:
            raise ConfigError.every(list(self._found.values()))


def _open_api(public_base_url: str) -> ConfigError:
    # Refusing beats generating a key: every process (gunicorn workers, the CLI) would need the same one.
    return ConfigError(
        "API_KEYS",
        f"is required when PUBLIC_BASE_URL ({public_base_url}) is not a loopback address, else /v1 would be open "
        f"to anyone who finds that URL; add a key of your own to .env, e.g. API_KEYS={secrets.token_urlsafe(32)}",
    )


def _refuse_unsafe_production(
    raw: Mapping[str, str], providers: tuple[str, ...], redis_url: str, secret: str, keys: tuple[str, ...]
) -> list[ConfigError]:
    checks: list[tuple[bool, str, str]] = [
        (not secret, "SECRET_KEY", "is required in production"),
        (not keys, "API_KEYS", "is required in production (otherwise /v1 would be open)"),
        (not raw.get("PUBLIC_BASE_URL", "").strip(), "PUBLIC_BASE_URL", "is required in production"),
        (not redis_url, "REDIS_URL", "is required in production (the memory store is for development)"),
    ]
    for provider in dict.fromkeys(p for p in providers if not SPECS[p].sends):
        name = next(
            (n for n in ("SMS_PROVIDER", "VOICE_PROVIDER") if provider in _csv(raw.get(n, ""))),
            "OTP_PROVIDER",
        )
        checks.append((True, name, f"must not be {provider} in production (it sends nothing)"))
    return [ConfigError(name, why) for bad, name, why in checks if bad]


def _refuse_weak_production(s: Settings) -> list[ConfigError]:
    """Settings that work but leave production guessable or open to abuse (issue 11, item 10)."""
    keys = {
        "SECRET_KEY": (s.secret_key,),
        "SECRET_KEY_FALLBACKS": s.secret_key_fallbacks,
        "API_KEYS": s.api_keys,
        "METRICS_TOKEN": (s.metrics_token,) if s.metrics_token else (),
    }
    checks = [
        (not safe_origin(s.public_base_url), "PUBLIC_BASE_URL", "must be https:// (http:// only to a loopback host)"),
        *(
            (any(len(key) < MIN_SECRET_LENGTH for key in values), name, f"must be {MIN_SECRET_LENGTH}+ characters each")
            for name, values in keys.items()
        ),
        (s.otp_length < 6, "OTP_LENGTH", "must be at least 6"),
        (s.otp_max_checks > 10, "OTP_MAX_CHECKS", "must be at most 10"),
        (not s.limit_number, "OTP_LIMIT_NUMBER", "must not be off"),
    ]
    return [ConfigError(name, f"{why} in production") for bad, name, why in checks if bad]




def _who_uses(name: str, sms: tuple[str, ...], voice: tuple[str, ...]) -> str:
    return next(p for p, names in PROVIDER_SETTINGS.items() if name in names and p in sms + voice)


def _csv(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _choice(raw: Mapping[str, str], name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = raw.get(name, "").strip().lower() or default
    if value not in allowed:
        raise ConfigError(name, f"must be one of {', '.join(allowed)} (got {value!r})")
    return value


def _provider_list(raw: Mapping[str, str], name: str, default: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    names = tuple(p.lower() for p in _csv(raw.get(name, ""))) or (default,)
    for provider in names:
        if provider not in allowed:
            if not raw.get(name, "").strip():
                raise ConfigError(name, f"must be set: OTP_PROVIDER={provider} cannot place calls")
            if provider in PROVIDERS:
                raise ConfigError(name, f"{provider} cannot place calls (choose from {', '.join(allowed)})")
            raise ConfigError(name, f"unknown provider {provider!r} (choose from {', '.join(allowed)})")
    if len(set(names)) != len(names):
        raise ConfigError(name, "lists a provider twice")
    return names


def _number(raw: Mapping[str, str], name: str, default: str, parse: Callable[[str], Any]) -> Any:
    text = raw.get(name, "").strip() or default
    try:
        return parse(text)
    except ValueError:
        raise ConfigError(name, f"must be a number (got {text!r})") from None


def _int(raw: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    value: int = _number(raw, name, str(default), int)
    if not low <= value <= high:
        raise ConfigError(name, f"must be between {low} and {high} (got {value})")
    return value


def _float(raw: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    value: float = _number(raw, name, str(default), float)
    if not low <= value <= high:
        raise ConfigError(name, f"must be between {low} and {high} (got {value})")
    return value


def _bool(raw: Mapping[str, str], name: str, default: bool) -> bool:
    text = raw.get(name, "").strip().lower()
    if not text:
        return default
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(name, f"must be 1 or 0 (got {text!r})")


def _base_url(raw: Mapping[str, str]) -> str:
    url = raw.get("PUBLIC_BASE_URL", "").strip() or "http://127.0.0.1:5000"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ConfigError("PUBLIC_BASE_URL", f"must be an origin such as https://example.ngrok.app (got {url!r})")
    if "_" in parts.netloc:
        raise ConfigError("PUBLIC_BASE_URL", "must not contain '_' (carriers refuse such hostnames)")
    return url.rstrip("/")


def _rules(raw: Mapping[str, str], name: str, default: str) -> tuple[Rule, ...]:
    return parse_rules(name, raw.get(name, ""), default)


def _single_rule(raw: Mapping[str, str], name: str, default: str) -> Rule | None:
    rules = _rules(raw, name, default)
    if len(rules) > 1:
        raise ConfigError(name, "takes one count/seconds pair")
    return rules[0] if rules else None


def _countries(raw: Mapping[str, str]) -> frozenset[str]:
    codes = frozenset(c.upper() for c in _csv(raw.get("OTP_ALLOWED_COUNTRIES", "")))
    for code in codes:
        if len(code) != 2 or not code.isalpha():
            raise ConfigError("OTP_ALLOWED_COUNTRIES", f"takes ISO country codes like US,GB (got {code!r})")
    return codes


def _pumping(raw: Mapping[str, str]) -> Pumping | None:
    names = ("OTP_PUMPING_MIN_SENDS", "OTP_PUMPING_MIN_RATIO", "OTP_PUMPING_WINDOW", "OTP_PUMPING_COOLOFF")
    if any(raw.get(name, "").strip().lower() == "off" for name in names):
        return None
    min_sends = _int(raw, "OTP_PUMPING_MIN_SENDS", 20, 0, 1_000_000)
    if min_sends == 0:  # the older spelling of `off`
        return None
    return Pumping(
        min_sends=min_sends,
        min_ratio=_float(raw, "OTP_PUMPING_MIN_RATIO", 0.2, 0.0, 1.0),
        window=_int(raw, "OTP_PUMPING_WINDOW", 3600, 60, 7 * 86400),
        cooloff=_int(raw, "OTP_PUMPING_COOLOFF", 3600, 60, 7 * 86400),
    )


def _number_types(raw: Mapping[str, str]) -> frozenset[str]:
    names = frozenset(n.lower() for n in _csv(raw.get("OTP_ALLOWED_NUMBER_TYPES", "")))
    unknown = sorted(names - DESTINATION_KINDS)
    if unknown:
        choices = ", ".join(sorted(DESTINATION_KINDS))
        raise ConfigError("OTP_ALLOWED_NUMBER_TYPES", f"unknown kind {unknown[0]!r} (choose from {choices})")
    return names


def _brand(raw: Mapping[str, str]) -> str:
    brand = raw.get("OTP_BRAND", "").strip() or "Verify"
    if len(brand) > 30 or any(not ch.isprintable() for ch in brand):
        raise ConfigError("OTP_BRAND", "must be at most 30 printable characters")
    return brand


_HOST_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")


def _webotp_domain(raw: Mapping[str, str]) -> str | None:
    """The host of the site whose pages read the code (WebOTP and iOS: `@host #code`, last line)."""
    domain = raw.get("OTP_WEBOTP_DOMAIN", "").strip().lower()
    if not domain:
        return None
    labels = domain.split(".")
    if len(domain) > 253 or len(labels) < 2 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        raise ConfigError("OTP_WEBOTP_DOMAIN", f"must be a host like example.com: no scheme, no port (got {domain!r})")
    return domain


def _region(raw: Mapping[str, str]) -> str | None:
    code = raw.get("OTP_DEFAULT_REGION", "").strip().upper()
    if code and not is_region(code):
        raise ConfigError("OTP_DEFAULT_REGION", f"must be an ISO region such as US or GB (got {code!r})")
    return code or None


def _provider_setting(raw: Mapping[str, str], setting: ProviderSetting) -> str:
    """The value once the provider's own check and, for our numbers, E.164 accept it ("" unset)."""
    name, value = setting.name, raw.get(setting.name, "").strip()
    if not value:
        return ""
    if setting.check is not None:
        try:
            setting.check(value)
        except ValueError as exc:
            raise ConfigError(name, str(exc)) from None
    return _e164(name, value) if setting.caller else value


def _e164(name: str, value: str) -> str:
    try:
        return parse_e164(value)
    except InvalidPhoneNumber:
        why = f"must be a phone number in E.164 form (got {value!r})"
        if value.isalnum() and not value.isdigit():
            why += "; an alphanumeric sender ID cannot place calls or receive replies"
        raise ConfigError(name, why) from None


def _account_sid(raw: Mapping[str, str]) -> str:
    value = raw.get("ACCOUNT_SID", "").strip() or "AC" + "0" * 32
    if not re.fullmatch(r"AC[0-9a-f]{32}", value):
        raise ConfigError("ACCOUNT_SID", f"must be AC followed by 32 hex digits (got {value!r})")
    return value


def _webhook_url(raw: Mapping[str, str], production: bool, allow_private: bool) -> str:
    """WEBHOOK_URL: an http(s) URL. Production resolves it now: https, public addresses only.

    Development and test do not resolve it (a receiver may start after us): https, or http to a
    loopback host. WEBHOOK_ALLOW_PRIVATE=1 lifts both (http and private addresses anywhere). The
    URL is never echoed: it may carry a token.
    """
    url = raw.get("WEBHOOK_URL", "").strip()
    if not url:
        return ""
    try:
        check_destination(url, allow_private=True)  # the URL's form alone
    except ValueError as exc:
        raise ConfigError("WEBHOOK_URL", str(exc)) from None
    if allow_private:
        return url
    if production:
        try:
            check_destination(url, allow_private=False)
        except Unresolvable as exc:
            raise ConfigError("WEBHOOK_URL", str(exc)) from None
        except ValueError as exc:  # https, public addresses: what WEBHOOK_ALLOW_PRIVATE lifts
            raise ConfigError("WEBHOOK_URL", f"{exc} in production{_LIFT}") from None
    elif not safe_origin(url):
        raise ConfigError("WEBHOOK_URL", "must be https:// (http:// only to a loopback host)" + _LIFT)
    return url


_LIFT = "; WEBHOOK_ALLOW_PRIVATE=1 allows http:// and private addresses"


def _webhook_secret(raw: Mapping[str, str]) -> str:
    """WEBHOOK_SECRET, checked whenever set; required when WEBHOOK_URL is (even a URL refused above)."""
    secret = raw.get("WEBHOOK_SECRET", "").strip()
    if secret:
        parse_secret("WEBHOOK_SECRET", secret)
    elif raw.get("WEBHOOK_URL", "").strip():
        # A fresh value in the message, like API_KEYS': every process must share one, so none is made up.
        raise ConfigError("WEBHOOK_SECRET", f"is required when WEBHOOK_URL is set, e.g. WEBHOOK_SECRET={new_secret()}")
    return secret


def _test_numbers(raw: Mapping[str, str]) -> dict[str, str]:
    """OTP_TEST_NUMBERS: `+15005550006=123456,…`, each an E.164 number and a code of 4 to 10 digits."""
    found: dict[str, str] = {}
    for entry in _csv(raw.get("OTP_TEST_NUMBERS", "")):
        number, _, code = entry.partition("=")
        try:
            e164 = parse_e164(number.strip())
        except InvalidPhoneNumber:
            raise ConfigError("OTP_TEST_NUMBERS", f"{number.strip()!r} is not an E.164 phone number") from None
        code = code.strip()
        if not (code.isascii() and code.isdigit() and 4 <= len(code) <= 10):
            raise ConfigError("OTP_TEST_NUMBERS", f"the code of {e164} must be 4 to 10 digits (NUMBER=CODE)")
        found[e164] = code
    return found


def _schedule(raw: Mapping[str, str]) -> tuple[float, ...]:
    """WEBHOOK_RETRY_SCHEDULE: the seconds before each retry, comma-separated (1 to 20 of them)."""
    text = raw.get("WEBHOOK_RETRY_SCHEDULE", "").strip()
    if not text:
        return RETRY_SCHEDULE
    try:
        waits = tuple(float(part) for part in text.split(","))
    except ValueError:
        waits = ()
    if not 1 <= len(waits) <= 20 or not all(0.1 <= w <= 86400 for w in waits):
        raise ConfigError("WEBHOOK_RETRY_SCHEDULE", "must be 1 to 20 comma-separated seconds, each 0.1 to 86400")
    return waits


def _webhook_fallbacks(raw: Mapping[str, str]) -> tuple[str, ...]:
    """WEBHOOK_SECRET_FALLBACKS: older secrets, comma-separated, each one a `whsec_` secret."""
    name = "WEBHOOK_SECRET_FALLBACKS"
    secrets_ = _csv(raw.get(name, ""))
    for position, secret in enumerate(secrets_, 1):
        try:
            parse_secret(name, secret)
        except ConfigError as exc:
            why = str(exc).removeprefix(f"{name} ")
            raise ConfigError(name, f"(value {position}) {why}") from None
    return secrets_
