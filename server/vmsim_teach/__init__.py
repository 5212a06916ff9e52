"""Teaching tools built on the simulated kernel, not kernel code themselves: reference-string
replay under textbook policies (replay, replay_fast) and the lock-contention experiment.

They use vmsim_kernel; the kernel never imports them.
"""
