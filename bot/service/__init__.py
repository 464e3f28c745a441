"""The service layer: every use case, for both front ends (see :mod:`bot.service.app`).

Nothing here imports Discord, the terminal or the shared formatting; it is the only part of
``bot`` that imports ``storage`` (tests/test_architecture.py checks both).
"""
