"""Process-wide behaviour of the studio's threads: priorities, Python's thread records, GC."""
