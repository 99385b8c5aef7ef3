"""The ``asm`` commands, one module per group of them; ``asm_core.cli`` puts them together."""
