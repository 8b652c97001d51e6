"""Memory freed in the middle of the heap goes back to the system when the studio trims."""
import ctypes.util
import platform

import numpy as np
import pytest

from app.runtime.freed_memory import return_freed_memory
from resident_size import STATUS, status_bytes

MIB = 1 << 20


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc" or not ctypes.util.find_library("c")
                    or not STATUS.exists(), reason="glibc's malloc_trim, resident size from /proc")
def test_holes_freed_between_live_blocks_are_returned():
    np.ones(16 * MIB // 8).sum()  # a large block freed: glibc now serves blocks of up to 16 MB from its heap
    blocks = [np.ones(MIB // 8) for _ in range(96)]  # 96 MiB on the heap, every page touched
    del blocks[::2]  # 48 MiB of holes between live blocks: malloc keeps them
    before = status_bytes()
    return_freed_memory()
    assert before - status_bytes() >= 32 * MIB

