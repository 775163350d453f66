"""How views reach the service built by `create_app`."""

from __future__ import annotations

from flask import current_app

from telephony.approval_service import ApprovalService
from telephony.factor_service import FactorService
from telephony.notice_service import NoticeService
from telephony.service import VerificationService


def service() -> VerificationService:
    return current_app.extensions["verification"]


def approvals() -> ApprovalService:
    return current_app.extensions["approvals"]


def notices() -> NoticeService:
    return current_app.extensions["notices"]


def factors() -> FactorService:
    return current_app.extensions["factors"]
