"""The engine: the block pipeline over the ledger kernel and the mechanisms' registered handlers."""
