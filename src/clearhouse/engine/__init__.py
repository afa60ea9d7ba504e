"""The engine: the block pipeline (``engine``), the handler registry (``registry``) and the sink port
(``sink``). ``from clearhouse.engine.engine import Engine``."""
