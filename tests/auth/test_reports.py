"""Signed oracle reports: only the whitelisted key of a source may sign its reports."""

from __future__ import annotations

import msgspec
import pytest

from clearhouse.auth.authorization import AuthorizeReporter, registry
from clearhouse.auth.envelope import TX_DOMAIN
from clearhouse.auth.errors import BadSignature, Unauthorized
from clearhouse.auth.reports import ReportSignature, report_digest, sign_report, verify_report
from clearhouse.auth.signing import domain_digest
from clearhouse.oracle.reports import SourceReport

from .helpers import ADMIN, BOB, CHAIN, MALLORY

REPORT = SourceReport("binance", "ETH", 2000 * 10**18, 1_700_000_000)
REG = registry([ADMIN.public_hex]).apply(
    ADMIN.public_hex, AuthorizeReporter("ETH", "binance", BOB.public_hex)
)


def test_the_whitelisted_reporter_is_accepted() -> None:
    assert verify_report(REPORT, sign_report(REPORT, CHAIN, BOB), CHAIN, REG) == report_digest(REPORT, CHAIN)


def test_another_key_or_another_source_is_refused() -> None:
    with pytest.raises(Unauthorized, match="not its reporter key"):
        verify_report(REPORT, sign_report(REPORT, CHAIN, MALLORY), CHAIN, REG)
    other = SourceReport("kraken", "ETH", 2000 * 10**18, 1_700_000_000)
    with pytest.raises(Unauthorized, match="not a whitelisted reporter"):
        verify_report(other, sign_report(other, CHAIN, BOB), CHAIN, REG)


def test_an_edited_price_or_another_chain_breaks_the_signature() -> None:
    sig = sign_report(REPORT, CHAIN, BOB)
    with pytest.raises(BadSignature):
        verify_report(msgspec.structs.replace(REPORT, price=1 * 10**18), sig, CHAIN, REG)
    with pytest.raises(BadSignature):
        verify_report(REPORT, sig, "other-chain", REG)
    with pytest.raises(BadSignature):
        verify_report(REPORT, ReportSignature(BOB.public_hex, "00" * 64), CHAIN, REG)


def test_report_domain_is_not_the_transaction_domain() -> None:
    payload = msgspec.json.encode(REPORT, order="deterministic")
    assert report_digest(REPORT, CHAIN) == domain_digest(b"clearhouse/report/v1\x00", CHAIN, payload)
    assert report_digest(REPORT, CHAIN) != domain_digest(TX_DOMAIN, CHAIN, payload)
