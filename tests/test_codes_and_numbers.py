"""Codes are random digit strings kept only as MACs and sealed copies; numbers come out E.164."""

from __future__ import annotations

import pytest

from telephony.codes import CodeVault, new_code
from telephony.phone import InvalidPhoneNumber, mask, to_e164


def test_codes_are_digit_strings_of_the_asked_length_and_keep_leading_zeros() -> None:
    codes = [new_code(6) for _ in range(2000)]
    assert all(len(c) == 6 and c.isdigit() for c in codes)
    assert any(c.startswith("0") for c in codes)  # 1 - 0.9**2000: never fails by chance
    assert len(set(codes)) > 1900
    assert len(new_code(10)) == 10


def test_mac_is_bound_to_the_verification_and_the_key() -> None:
    vault = CodeVault("first-secret-0123456789")
    other = CodeVault("other-secret-0123456789")
    mac = vault.mac("vf_a", "012345")
    assert mac == vault.mac("vf_a", "012345")
    assert mac != vault.mac("vf_b", "012345")
    assert mac != vault.mac("vf_a", "12345")
    assert mac != other.mac("vf_a", "012345")
    assert "012345" not in mac


def test_sealed_copy_opens_only_for_its_verification() -> None:
    vault = CodeVault("first-secret-0123456789")
    mac, sealed = vault.seal("vf_a", "000123")
    assert "000123" not in sealed
    assert vault.open("vf_a", sealed) == "000123"
    with pytest.raises(ValueError):
        vault.open("vf_b", sealed)
    assert CodeVault.same(mac, vault.candidate_macs("vf_a", "000123"))
    assert not CodeVault.same(mac, vault.candidate_macs("vf_a", "000124"))


def test_rotated_secret_still_opens_and_checks_codes_in_flight() -> None:
    old = CodeVault("old-secret-0123456789")
    mac, sealed = old.seal("vf_a", "424242")
    rotated = CodeVault("new-secret-0123456789", ("old-secret-0123456789",))
    assert rotated.open("vf_a", sealed) == "424242"
    assert CodeVault.same(mac, rotated.candidate_macs("vf_a", "424242"))
    assert not CodeVault.same(mac, CodeVault("new-secret-0123456789").candidate_macs("vf_a", "424242"))


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("+14155550100", "+14155550100"),
        (" +1 (415) 555-0100 ", "+14155550100"),
        ("14155550100", "+14155550100"),  # carriers drop the +
        ("+33 6 12 34 56 78", "+33612345678"),
    ],
)
def test_numbers_are_normalised_to_e164(raw: str, e164: str) -> None:
    assert to_e164(raw) == e164


@pytest.mark.parametrize("raw", ["", "hello", "+1415", "+999123456789", "+1" + "5" * 40, "+14155550100\x00"])
def test_invalid_numbers_are_refused(raw: str) -> None:
    with pytest.raises(InvalidPhoneNumber):
        to_e164(raw)


def test_masked_numbers_hide_the_middle() -> None:
    assert mask("+14155550100") == "+1415*****00"
    assert "5550100" not in mask("+14155550100")
