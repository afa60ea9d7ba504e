"""Replicated deployment: the node's journal rows on a NATS JetStream stream (replication factor 3),
a single writer fenced by expected-last-sequence, fail-over by a lease in a JetStream key-value bucket
(docs/replication.md). No consensus protocol of our own: JetStream's Raft-replicated stream is the log."""
