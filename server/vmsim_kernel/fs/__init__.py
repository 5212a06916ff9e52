"""File systems, as Linux's fs/: a small disk file system (vfs, blockdev) and /proc."""
