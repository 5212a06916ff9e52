"""Boot: the Kernel object that start_kernel builds and every subsystem is reached from.

Mirrors Linux's init/ (main.c).
"""
