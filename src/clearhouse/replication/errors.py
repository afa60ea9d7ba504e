"""Why a replicated node stops writing or stops following (no NATS import: the node imports these)."""

from __future__ import annotations


class Fenced(Exception):
    """JetStream refused (or could not confirm) this node's publish: another sequencer wrote the next
    block, or the log is unreachable. The block is rolled back and the node steps down to follower."""


class Diverged(Exception):
    """The block this follower re-executed does not give the leader's row (events, state root or hash
    chain differ), or the local journal is not a prefix of the log. The follower stops following."""


__all__ = ["Diverged", "Fenced"]
