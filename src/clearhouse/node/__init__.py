"""The live node: a FastAPI service that admits signed transactions into a bounded mempool, produces
blocks on a fixed block time through the same :meth:`~clearhouse.ledger.engine.Engine.apply_block`
every other driver uses, journals them and serves accounts, markets, blocks and a resumable stream."""
