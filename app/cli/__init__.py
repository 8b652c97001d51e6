"""The ``rvq-studio`` command line: argument parsing, the tasks behind it, its progress bar."""
