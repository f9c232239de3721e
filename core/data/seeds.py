"""Seeds derived from whole numbers: every random draw of the data pipeline is seeded by where it happens."""

from __future__ import annotations

import hashlib


def derived_seed(*parts: int) -> int:
    """A 63-bit seed from whole numbers, e.g. (seed, epoch, step, rank); nearby tuples give unrelated seeds."""
    digest = hashlib.blake2b(",".join(str(int(p)) for p in parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & (2**63 - 1)
