"""Architecture code, as Linux's arch/: only x86 (32-bit, non-PAE) is simulated."""
