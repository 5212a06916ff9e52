"""File systems, as Linux's fs/: only /proc is simulated."""
