"""Verifications for the load to refer to, and the requests that refer to them.

Records are built with the domain's own code, exactly as `VerificationService.start` leaves them
after a send the provider accepted: `KeyNames.new_verification_id`, `CodeVault.seal`, `first_send`, then
`step(SendAccepted)` and the save's version bump, written with `store.record.to_record` under the keys of
`store/keys.py` (a hash with the verification's expiry plus the number's `latest` pointer, as
`RedisStore.admit` writes them). Writing them in pipelines instead of one `start` each only makes
seeding fast; `memory.py` checks a seeded record against one written by the real service.
"""

from __future__ import annotations

import functools
import json
import secrets
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

from bench.common import API_KEY, TWILIO
from telephony.codes import CodeVault, new_code
from telephony.config import Settings
from telephony.lifecycle import Context, SendAccepted, first_send, step
from telephony.models import Mode, Status, Verification
from telephony.store import keys
from telephony.store.keys import KeyNames
from telephony.store.record import to_record
from telephony.wording import locale_for


def number(i: int) -> str:
    """The i-th of 120 000 valid US numbers (+16502530000 ...; checked with libphonenumber)."""
    return f"+1650{2530000 + i % 120_000:07d}"


NUMBERS = [number(i) for i in range(1000)]  # what starts cycle through


@dataclass(frozen=True)
class Seeded:
    id: str
    to: str
    code: str
    provider_id: str


@functools.cache
def _country_locale(country_code: str) -> str:
    return locale_for(f"+{country_code}6502530000")


def _locale(e164: str) -> str:
    """`locale_for`, parsed once per country (every seeded number is +1 650 253 ..., a US one)."""
    assert e164.startswith("+1650")
    return _country_locale("1")


def build(settings: Settings, vault: CodeVault, number: str, mode: str, now: float) -> tuple[Verification, str]:
    """A pending verification after its first send was accepted by Twilio (SMS or call)."""
    vid = names_for(settings).new_verification_id(number)
    code = new_code(settings.otp_length)
    mac, sealed = vault.seal(vid, code)
    v = Verification(
        id=vid, to=number, mode=Mode(mode), locale=_locale(number), status=Status.PENDING,
        checks_left=settings.otp_max_checks, max_sends=settings.otp_max_sends, created_at=now,
        expires_at=now + settings.otp_ttl, mac=mac, sealed=sealed,
    )  # fmt: skip
    ctx = Context(now=now, sms_provider="twilio", voice_provider="twilio",
                  resend_cooldown=settings.otp_resend_cooldown, fallback_after=settings.otp_fallback_after)  # fmt: skip
    first = first_send(v, ctx)
    prefix = "CA" if first.verification.attempts[0].channel == "call" else "SM"
    accepted = step(first.verification, SendAccepted(0, prefix + secrets.token_hex(16)), ctx).verification
    return accepted.with_changes(version=accepted.version + 1), code  # the save after the send bumps it


def names_for(settings: Settings) -> KeyNames:
    """The key names the app built from these settings uses (keyed from SECRET_KEY)."""
    return KeyNames(settings.secret_key, settings.secret_key_fallbacks)


def write(client, names: KeyNames, records: Iterable[tuple[str, dict[str, str], int]], batch: int = 2000) -> int:
    """Write (id, record, expiry ms) as the store does: the hash with the keyed names of the number
    and its prefix, its expiry, the number's pointer."""
    pipe = client.pipeline(transaction=False)
    count = 0
    for vid, record, expires_ms in records:
        key = keys.verification(vid)
        pipe.hset(key, mapping={**record, "n": names.number(record["t"]), "q": names.prefix(record["t"])})
        pipe.pexpireat(key, expires_ms)
        pipe.set(names.latest(record["t"]), vid, pxat=expires_ms)
        count += 1
        if count % batch == 0:
            pipe.execute()
    pipe.execute()
    return count


def seed(
    client, settings: Settings, vault: CodeVault, count: int, mode: str = "sms", *, first_number: int = 0
) -> list[Seeded]:
    """`count` fresh pending verifications, each to its own number.

    One verification is built with `build`; the others are its record with their own number, id,
    code (MAC and sealed copy) and provider id put in (same fields, same lengths), which is what
    `build` would give for them, at a tenth of the cost.
    """
    now = time.time()
    names = names_for(settings)
    template, _ = build(settings, vault, number(first_number), mode, now)
    base = to_record(template)
    template_pid = template.attempts[0].provider_id or ""
    expires_ms = int(template.expires_at * 1000)
    made: list[Seeded] = []
    records = []
    for i in range(count):
        to = number(first_number + i)
        vid = names.new_verification_id(to)
        code = new_code(settings.otp_length)
        mac, sealed = vault.seal(vid, code)
        pid = template_pid[:2] + secrets.token_hex(16)
        record = {**base, "t": to, "h": mac, "x": sealed, "i0": pid}
        records.append((vid, record, expires_ms))
        made.append(Seeded(vid, to, code, pid))
    write(client, names, records)
    return made


# Background verifications in bulk (1M), cloned from a real record inside Redis so that filling
# takes seconds. ARGV: first index, count, expiry (ms since epoch), then the template's fields.
# Each clone gets its own id (and key), number and MAC, of the real lengths.
_CLONE = """
local first, count, exp = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local fields, at = {}, {}
for i = 4, #ARGV do fields[#fields + 1] = ARGV[i] end
for i = 1, #fields, 2 do at[fields[i]] = i + 1 end
for n = first, first + count - 1 do
  local tag = string.format('%08x', (n * 2654435761) % 4294967296)
  local id = 'vf_' .. tag .. string.format('%022d', n)
  local to = string.format('+1%010d', 2000000000 + n)
  fields[at['t']] = to
  fields[at['h']] = string.format('%022x', n)  -- 22 characters, as CodeVault.seal's base64url MAC
  local key = 'otp:{' .. tag .. '}:v:' .. string.sub(id, 12)
  redis.call('HSET', key, unpack(fields))
  redis.call('PEXPIREAT', key, exp)
  redis.call('SET', 'otp:{' .. tag .. '}:n:' .. to, id, 'PXAT', exp)
end
return count
"""


def fill(client, template: Verification, count: int, *, start: int = 0, ttl: int = 3600, batch: int = 20000) -> None:
    """Add `count` background pending verifications shaped like `template`."""
    flat = [item for pair in to_record(template).items() for item in pair]
    expires_ms = int((time.time() + ttl) * 1000)
    script = client.register_script(_CLONE)
    done = 0
    while done < count:
        n = min(batch, count - done)
        script(args=[start + done, n, expires_ms, *flat])
        done += n


# --- requests ------------------------------------------------------------------------------------
# One request per line for bench/replay.lua and the Python load generator:
# method TAB path TAB body TAB header-name TAB header-value ... (no field holds a tab or newline).

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


# Every kind of request the benchmarks send, /healthz (the ceiling) first.
KINDS = ["healthz", "readyz", "start", "check_wrong", "check_right", "answer", "receipt"]


def line(method: str, path: str, body: str = "", headers: dict[str, str] | None = None) -> str:
    parts = [method, path, body]
    for name, value in (headers or {}).items():
        parts += [name, value]
    assert not any("\t" in p or "\n" in p for p in parts)
    return "\t".join(parts)


def api_headers() -> dict[str, str]:
    return {"Content-Type": JSON, "Authorization": f"Bearer {API_KEY}"}


def healthz_lines() -> Iterator[str]:
    yield line("GET", "/healthz")


def readyz_lines() -> Iterator[str]:
    yield line("GET", "/readyz")  # one PING: what one Redis round trip costs over the bare endpoint


def start_lines() -> Iterator[str]:
    for to in NUMBERS:
        yield line("POST", "/v1/verifications", json.dumps({"to": to, "channel": "sms"}), api_headers())


def check_lines(pool: list[Seeded], *, right: bool) -> Iterator[str]:
    for s in pool:
        code = s.code if right else s.code[:-1] + str((int(s.code[-1]) + 1) % 10)
        yield line("POST", f"/v1/verifications/{s.id}/check", json.dumps({"code": code}), api_headers())


def _signed(base_url: str, path: str, params: dict[str, str]) -> str:
    signature = RequestValidator(TWILIO["TWILIO_AUTH_TOKEN"]).compute_signature(base_url + path, params)
    return line("POST", path, urlencode(params), {"Content-Type": FORM, "X-Twilio-Signature": signature})


def answer_lines(pool: list[Seeded], base_url: str) -> Iterator[str]:
    """Twilio's answer-URL request for each pool entry's call (a person picked up)."""
    for s in pool:
        params = {
            "AccountSid": TWILIO["TWILIO_ACCOUNT_SID"], "ApiVersion": "2010-04-01", "CallSid": s.provider_id,
            "CallStatus": "in-progress", "Called": s.to, "Caller": TWILIO["TWILIO_FROM"],
            "Direction": "outbound-api", "From": TWILIO["TWILIO_FROM"], "To": s.to, "AnsweredBy": "human",
            "CallerCountry": "US", "CalledCountry": "US",
        }  # fmt: skip
        yield _signed(base_url, f"/webhooks/twilio/voice/{s.id}?a=0", params)


def receipt_lines(pool: list[Seeded], base_url: str) -> Iterator[str]:
    """Twilio's `delivered` status callback for each pool entry's SMS (each one moves a status)."""
    for s in pool:
        params = {
            "AccountSid": TWILIO["TWILIO_ACCOUNT_SID"], "ApiVersion": "2010-04-01", "From": TWILIO["TWILIO_FROM"],
            "To": s.to, "MessageSid": s.provider_id, "MessageStatus": "delivered", "SmsSid": s.provider_id,
            "SmsStatus": "delivered", "RawDlrDoneDate": "2511261000",
        }  # fmt: skip
        yield _signed(base_url, f"/webhooks/twilio/status/message/{s.id}?a=0", params)
