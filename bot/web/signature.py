"""Slack's v0 request signature, checked with slack_sdk's SignatureVerifier on an injected
clock (slack_sdk's Clock: the wall clock Slack stamps its requests by, not the runtime's
clock, which tests move; tests inject their own)."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from slack_sdk.signature import Clock as WallClock
from slack_sdk.signature import SignatureVerifier


class _Verifier(SignatureVerifier):
    """slack_sdk's verifier: its clock, its five minutes, its signature and its
    constant-time comparison, for every body Slack sends (always UTF-8). slack_sdk decodes
    the body as UTF-8 to sign it, so a body that is not UTF-8 would raise there: that one
    is signed over its raw bytes instead, and so checked, not an error (Slack never sends
    one; a signed one is answered 200 as a request Slack could not have sent, an unsigned
    one 401)."""

    def generate_signature(self, *, timestamp: str, body: str | bytes) -> str | None:
        try:
            return super().generate_signature(timestamp=timestamp, body=body)
        except UnicodeDecodeError:
            raw = body if isinstance(body, bytes) else body.encode()
            mac = hmac.new(self.signing_secret.encode(), b"v0:" + timestamp.encode() + b":",
                           hashlib.sha256)
            mac.update(raw)
            return "v0=" + mac.hexdigest()


class _At(WallClock):
    """A clock stopped at one moment: a saved request's own timestamp, so that only its
    signature is checked, whatever its age."""

    def __init__(self, stamp: int) -> None:
        self._stamp = stamp

    def now(self) -> float:
        return float(self._stamp)


class Signatures:
    """Slack's v0 request signature over a request's raw bytes, within five minutes of
    `clock` (the wall clock by default; tests inject their own)."""

    def __init__(self, secret: str, clock: WallClock | None = None) -> None:
        self._secret = secret or "unset"
        self._verifier = _Verifier(self._secret, clock=clock or WallClock())
        self._configured = bool(secret)

    def __call__(self, environ: dict[str, Any], raw: bytes) -> bool:
        stamp = str(environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", ""))
        given = str(environ.get("HTTP_X_SLACK_SIGNATURE", ""))
        if not self._configured or not stamp.isdigit() or not given:
            return False
        return self._verifier.is_valid(body=raw, timestamp=stamp, signature=given)

    def holds(self, stamp: str, raw: bytes, given: str) -> bool:
        """The signature alone, whatever its age (a saved request, checked again)."""
        if not self._configured or not (stamp.isascii() and stamp.isdigit()):
            return False
        return _Verifier(self._secret, clock=_At(int(stamp))).is_valid(
            body=raw, timestamp=stamp, signature=given)
