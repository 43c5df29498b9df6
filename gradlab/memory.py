"""Deprecated, use gradlab.fast.memory (or gradlab.fast.release_memory): this module re-exports it (kept so that
existing imports work). Its constants are copies: to run without the pool, use ``with gradlab.reference():``."""
from .fast.memory import (CHUNK_BYTES, MAX_IDLE_BYTES, MIN_BYTES, is_pooled, pooled_copy, pooled_empty, pooled_like,
                          pooled_zeros, release_memory)

__all__ = ["pooled_copy", "pooled_empty", "pooled_zeros", "pooled_like", "is_pooled", "release_memory", "MIN_BYTES",
           "CHUNK_BYTES", "MAX_IDLE_BYTES"]
