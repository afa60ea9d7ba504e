"""The steward: guarded, journalled parameter changes proposed by a controller key (docs/controller.md)."""
