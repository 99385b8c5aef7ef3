"""AWS Lambda handlers of ASM Watch: thin adapters from events to :mod:`asm_core`."""
