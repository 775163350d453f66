"""Notices: what the API and delivery receipts ask of them.

Built on the verification service's parts, as approval requests are: its destination rules, its
limits and opt-outs (a notice is admitted atomically with its creation, counted per number under
OTP_LIMIT_NOTICES), its SMS providers and their failover, and the store's compare-and-set with the
event written in the same step. The rules of a notice itself are `notices.py`.
"""

from __future__ import annotations

from telephony.approvals import SendResult, first_attempt
from telephony.errors import InvalidRequest, NotFound, StoreUnavailable
from telephony.events import event
from telephony.limits import CreateNotice, Origin
from telephony.models import Attempt, Channel, SendStatus
from telephony.notice_wording import notice_sms
from telephony.notices import KEPT_FOR, NOTICE_ID, Notice, NoticeEvent, NoticeKind, NoticeStep, SendFailed, step
from telephony.phone import mask
from telephony.providers import StatusReport
from telephony.service import SAVE_RETRIES, VerificationService
from telephony.wording import LOCALES, locale_for

KINDS = tuple(NoticeKind)


class NoticeService:
    def __init__(self, verification: VerificationService) -> None:
        self.codes = verification  # its settings, store, providers, limits and destination rules
        self.settings, self.store = verification.settings, verification.store

    def send(self, to: object, kind: object, locale: object = None, origin: Origin | None = None) -> Notice:
        """Create and send a notice; it answers `sent`, or `failed` when every provider refused it
        (the notice exists either way, and its event says so)."""
        number = self.codes.parse_number(to)
        if kind not in KINDS:
            raise InvalidRequest(f"`kind` must be one of {', '.join(KINDS)}.")
        if locale is not None and locale not in LOCALES:
            raise InvalidRequest(f"`locale` must be one of {', '.join(LOCALES)}.")
        self.codes.destination(number)  # raises for countries and number ranges never sent to
        now = round(self.codes.clock(), 3)
        notice = Notice(
            id=self.store.names.new_notice_id(number), to=number, kind=NoticeKind(str(kind)),
            locale=str(locale or locale_for(number)), created_at=now, expires_at=now + KEPT_FOR,
            brand=self.settings.otp_brand, attempts=(first_attempt(Channel.SMS, self.settings.sms_providers[0], now),),
        )  # fmt: skip
        admission = self.codes.admit_send(number, Channel.SMS, origin, CreateNotice(notice), notice=True)
        self.codes.refuse_unless_admitted(admission, number, "notices")
        assert admission.notice is not None
        event("notice.started", None, notice=notice.id, to=mask(number), kind=notice.kind)
        return self._deliver(admission.notice, 0)

    def get(self, notice_id: str) -> Notice:
        n = self.store.notice_get(notice_id) if NOTICE_ID.match(notice_id) else None
        if n is None:
            raise NotFound("No such notice, or it was sent over 3 days ago.")
        return n

    def on_status(self, provider: str, channel: str, notice_id: str, index: int, report: StatusReport) -> None:
        """A delivery receipt for the notice's SMS: recorded; undelivered or failed fails the notice."""
        n = self.store.notice_get(notice_id) if NOTICE_ID.match(notice_id) else None
        known = n is not None and channel == Channel.SMS and 0 <= index < len(n.attempts)
        if n is None or not known or n.attempts[index].provider != provider:
            event("status.unknown_notice", provider=provider, notice=notice_id[:40])
            return
        status = SendStatus(report.status) if report.status else None
        self._apply(n, SendResult(index, report.provider_id, status))

    def _deliver(self, n: Notice, index: int) -> Notice:
        """Send attempt `index`, failing over along the SMS providers as codes do."""
        body = notice_sms(n.locale, n.kind, brand=n.brand or self.settings.otp_brand)
        sent = self.codes.send_attempt(n.attempts[index], n.to, n.id, index, body)
        if sent.provider_id is not None:
            return self._apply(n, SendResult(index, sent.provider_id)).notice
        now = round(self.codes.clock(), 3)
        retry = Attempt(1, Channel.SMS, sent.next_provider, SendStatus.QUEUED, now) if sent.next_provider else None
        n = self._apply(n, SendFailed(index, sent.error, retry)).notice
        return self._deliver(n, len(n.attempts) - 1) if retry else n

    def _apply(self, n: Notice, change: NoticeEvent) -> NoticeStep:
        """Step on the freshest copy and compare-and-set; on a conflict reload and step again."""
        for _ in range(SAVE_RETRIES):
            result = step(n, change)
            if not result.changed:
                return result
            saved = self.store.notice_save(result.notice, n, result.event)
            if saved is not None:
                if result.event:
                    event(result.event, None, notice=n.id, to=mask(n.to))
                return NoticeStep(saved, event=result.event)
            reloaded = self.store.notice_get(n.id)
            if reloaded is None:
                return NoticeStep(n, changed=False)  # forgotten meanwhile: nothing left to record
            n = reloaded
        raise StoreUnavailable("The notice is too busy; try again.")
