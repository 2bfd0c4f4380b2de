"""Schema and data migrations. Each is frozen: it uses the historical ``apps`` and its own data,
never today's modules (a later change must not break a fresh ``migrate``). Nothing imports them.
"""
