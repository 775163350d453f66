"""The `Store` protocol: every operation on shared state that must be atomic is one call here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from telephony.approvals import Approval
from telephony.eventlog import Claim, Delivery, Event
from telephony.factors import Factor, Judgement
from telephony.lifecycle import CheckOutcome
from telephony.limits import Admission, CheckPolicy, SendPlan, Write
from telephony.models import Verification
from telephony.notices import Notice
from telephony.store.keys import KeyNames

__all__ = ["OUTBOX_LIMIT", "CheckOutcome", "Store"]


OUTBOX_LIMIT = 100  # development outbox entries kept
OutboxEntry = dict[str, Any]  # a development send as `/dev/outbox` lists it
EXPIRY_GRACE = 900  # seconds a verification's record outlives its expiry: the worker's expiry event reads it
Targets = Callable[[Event], list[str]]  # where an event is delivered (eventlog.MAIN_TARGET, YW SIDs)


class Store(Protocol):
    """Implementations raise `telephony.errors.StoreUnavailable` when the backend cannot answer.

    One clock decides: `created_at` and `expires_at` of what is stored, counter windows and SMS-pumping
    buckets all follow the store's own clock (Redis `TIME`), never the caller's.
    """

    names: KeyNames  # keyed names of numbers, prefixes and clients (also the ids' tags)

    def now(self) -> float:
        """The store's clock (epoch seconds), for the service's cooldowns and timers."""

    def create(self, v: Verification) -> Verification:
        """Store a new verification and make it its number's newest. It lives as long as
        `v.expires_at - v.created_at`, from the store's now; returns it with the stored times."""

    def get(self, verification_id: str) -> Verification | None:
        """The verification, or None when unknown or expired."""

    def play(self, verification_id: str) -> tuple[Verification | None, int]:
        """The verification and how many times its code has now been played (this one counted)."""

    def save(
        self, v: Verification, previous: Verification | None = None, event: str | None = None
    ) -> Verification | None:
        """Compare-and-set: write `v` only if the stored version is still `v.version`.

        `previous`, the copy `v` was derived from, lets a store write only the fields that changed.
        `event`: the type of the lifecycle event this change makes, written in the same atomic step.

        Returns the stored verification (its version one higher), or None on a conflict or expiry.
        """

    def check(
        self, verification_id: str, candidate_macs: list[str], policy: CheckPolicy | None = None
    ) -> tuple[CheckOutcome, Verification | None]:
        """Atomically compare a candidate code's MACs and consume one check or approve.

        A wrong code spends one of `checks_left`; spending the last one makes the status
        `max_attempts_reached`; the right code makes it `approved`. Only a pending verification
        changes. With a `policy`, wrong codes also count per number (LOCKED once over its limit,
        whatever the verification) and an approval counts for the prefix's pumping statistics.
        Approving, or spending the last check, writes its event in the same atomic step.
        """

    def admit(self, plan: SendPlan, write: Write | None = None) -> Admission:
        """Check every limit of a send and, only if all pass, count it and make its `write`: a
        `Create` (as `create()` does) or a compare-and-set `Save` (outcome CONFLICT when another
        change came first, MISSING once expired).

        A refusal of any kind leaves every counter, pointer and record exactly as it was.
        """

    def latest_for(self, e164: str, scope: str = "") -> str | None:
        """Id of the newest verification started for a number (in one /v2 service: `scope`), if it
        has not expired."""

    def first_seen(self, scope: str, event_id: str, *, ttl: int) -> bool:
        """True the first time an event is seen within `ttl` seconds (idempotent webhooks).

        `scope` is a verification id or E.164 number (the event key shares its hash tag), or a
        name of its own (a slot of its own).
        """

    def remember(self, scope: str, event_id: str, *, ttl: int) -> None:
        """Mark an event seen for `ttl` seconds from now, whether or not it was before."""

    def forget(self, scope: str, event_id: str) -> None:
        """Unmark an event (its handling failed: the carrier's retry must be handled)."""

    def set_opted_out(self, e164: str, opted_out: bool) -> None:
        """Record a STOP (True) or a START (False); kept until changed."""

    def rekey_opt_outs(self) -> int:
        """Rename every opt-out kept under an older key (SECRET_KEY_FALLBACKS, or an older release's
        naming) to the current key's name; how many moved. Run by the worker at start."""

    def schedule(self, verification_id: str, at: float) -> None:
        """(Re)arm the verification's one fallback timer for `at` (epoch seconds); survives restarts.

        Each accepted SMS under `auto` re-arms it, so the newest SMS gets its full wait.
        """

    def claim_due(self, now: float, limit: int) -> list[str]:
        """Remove and return the ids whose timers are due: two workers never get the same one."""

    def outbox_push(self, entry: OutboxEntry) -> None:
        """Keep a development outbox entry (console provider), newest first, bounded."""

    def outbox_list(self) -> list[OutboxEntry]:
        """The development outbox, newest first."""

    def doc_put(self, kind: str, sid: str, text: str, parent: str = "") -> None:
        """Keep a small configuration document (a /v2 service, rate limit, bucket or webhook) of
        `kind` under `sid`, belonging to `parent` (a service's SID, or none)."""

    def doc_get(self, kind: str, sid: str) -> str | None:
        """A document by its SID, or None."""

    def doc_list(self, kind: str, parent: str | None = None) -> list[str]:
        """Every document of `kind` (belonging to `parent`, when given)."""

    def doc_delete(self, kind: str, sid: str) -> bool:
        """Forget a document; False when there was none."""

    # --- approval requests (telephony/approvals.py); created by `admit` with a CreateApproval ------

    def approval_get(self, approval_id: str) -> Approval | None:
        """The approval (kept `approvals.KEPT_AFTER` seconds past its expiry, so polling sees the outcome)."""

    def approval_save(self, a: Approval, previous: Approval, event: str | None = None) -> Approval | None:
        """Compare-and-set, as `save`: None when another change came first or it has expired;
        `event` written in the same atomic step."""

    def approvals_for(self, e164: str) -> list[Approval]:
        """The number's approvals still kept (pending, answered or expired within `KEPT_AFTER`), by
        expiry: an SMS reply answers the pending one it names, or hears that it was answered."""

    # --- notices (telephony/notices.py); created by `admit` with a CreateNotice -------------------

    def notice_get(self, notice_id: str) -> Notice | None:
        """The notice, kept `notices.KEPT_FOR` seconds from its creation."""

    def notice_save(self, n: Notice, previous: Notice, event: str | None = None) -> Notice | None:
        """Compare-and-set, as `approval_save`: None when another change came first or it was forgotten."""

    # --- TOTP factors (telephony/factors.py) and their /v2 challenges ------------------------------

    def factor_create(self, factor: Factor) -> None:
        """Keep a new factor and list it under its identity (and /v2 service), in one step."""

    def factor_get(self, factor_id: str) -> Factor | None:
        """The factor (its secret still sealed), or None."""

    def factor_list(self, identity: str, scope: str = "") -> list[Factor]:
        """An identity's factors in one /v2 service (`scope`; "" for /v1), oldest first; also those
        listed under a SECRET_KEY_FALLBACKS key's names."""

    def factor_attempt(
        self, factor_id: str, step: int | None, now: float, *, verified_only: bool = False
    ) -> tuple[Judgement, Factor | None]:
        """Judge a code attempt (`factors.judge`: `step` is the one its code matched, None for a
        wrong code) and write what it changes, atomically; the factor's first accepted code
        verifies it and writes `factor.verified` in the same step. `now` is when the code was
        judged: its step came from the same clock. Returns the factor as it is after the attempt."""

    def factor_delete(self, factor_id: str) -> bool:
        """Forget a factor, writing `factor.deleted` in the same step; False when there was none."""

    def challenge_put(self, challenge_id: str, factor_id: str, text: str, keep_until: float) -> None:
        """Keep a challenge (JSON) until `keep_until` (epoch seconds), listed under its factor."""

    def challenge_get(self, challenge_id: str) -> str | None:
        """A challenge's JSON, or None once forgotten."""

    def challenge_list(self, factor_id: str) -> list[str]:
        """The JSON of every challenge of a factor still kept."""

    # --- lifecycle events (telephony/eventlog.py) ---------------------------------------------------

    def collect_events(self, targets: Targets, limit: int = 500) -> list[Event]:
        """Write the expiry events that are due (a verification still pending at its expiry), then
        move events from where their changes wrote them into the event log, queueing a delivery to
        each of `targets(event)`. Returns the events newly logged: one that is already there (two
        workers collecting at once) is neither logged nor returned again."""

    def claim_deliveries(self, lease: float, limit: int) -> list[Claim]:
        """Due deliveries, each held by the caller for `lease` seconds; only the oldest undelivered
        event of a resource is ever due for a target, so a resource's events arrive in order."""

    def finish_delivery(self, claim: Claim, outcome: Delivery) -> bool:
        """Record an attempt's outcome (a retry's `next_attempt_at`, or final); False when the lease
        was lost (another worker holds the delivery now) and nothing was written."""

    def list_events(self, after: str | None, limit: int) -> tuple[list[tuple[Event, Delivery | None]], bool]:
        """Logged events after the event `after` (from the oldest kept when None or no longer kept),
        oldest first, with their delivery to the main target; True when more follow."""

    def ping(self) -> bool:
        """True when the backend answers."""
