"""Core kernel services: the scheduler and its CPUs, locks, simulated time, exit, printk.

Mirrors Linux's kernel/ (sched/, locking/, time/, exit.c, printk/).
"""
