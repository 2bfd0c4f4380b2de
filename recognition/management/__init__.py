"""Operators' ``manage.py`` commands (in ``commands/``; nothing imports them).

Benchmark commands live in ``bench/``.
"""
