"""Signed oracle reports: a reporter key signs each source report; the registry says whose key it must be.

A report is signed over ``sha256("clearhouse/report/v1" 0x00 || u8(len(chain_id)) || chain_id ||
canonical JSON of the report)``, a domain of its own, so a report signature is never a valid transaction
or order signature. :func:`verify_report` checks the signature and then that the signer is the key
whitelisted for the report's source of its feed (``report.asset``). Works on any msgspec struct with
``source`` and ``asset`` (the oracle's ``SourceReport``) without importing the oracle package.
"""

from __future__ import annotations

from typing import Protocol

import msgspec

from clearhouse.auth.authorization import AuthRegistry
from clearhouse.auth.keys import KeyPair
from clearhouse.auth.signing import check_public_key, domain_digest, verify_signature

REPORT_DOMAIN = b"clearhouse/report/v1\x00"


class ReportLike(Protocol):
    @property
    def source(self) -> str: ...

    @property
    def asset(self) -> str: ...


class ReportSignature(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    #: Lower-case hex public key of the reporter.
    signer: str
    signature: str


_encoder = msgspec.json.Encoder(order="deterministic")


def report_digest(report: ReportLike, chain_id: str) -> bytes:
    return domain_digest(REPORT_DOMAIN, chain_id, _encoder.encode(report))


def sign_report(report: ReportLike, chain_id: str, key: KeyPair) -> ReportSignature:
    return ReportSignature(key.public_hex, key.sign(report_digest(report, chain_id)).hex())


def verify_report(report: ReportLike, sig: ReportSignature, chain_id: str, registry: AuthRegistry) -> bytes:
    """The report's digest if ``sig`` is valid and from the whitelisted key of its source; raises
    :class:`~clearhouse.auth.errors.BadSignature` or :class:`~clearhouse.auth.errors.Unauthorized`."""
    check_public_key(sig.signer)
    digest = report_digest(report, chain_id)
    verify_signature(sig.signer, digest, sig.signature, what=f"report of {report.asset}/{report.source}")
    registry.authorize_report(sig.signer, report.asset, report.source)
    return digest


__all__ = ["REPORT_DOMAIN", "ReportLike", "ReportSignature", "report_digest", "sign_report", "verify_report"]
