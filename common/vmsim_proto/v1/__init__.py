"""Generated code of the vmsim.v1 wire contract (scripts/gen_protos.py); do not edit."""
