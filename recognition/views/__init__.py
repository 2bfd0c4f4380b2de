"""Web pages. Each view: check the role, load through a selector, act through a service, respond.

Views check capabilities of ``recognition.roles``; only URLconfs import them.
"""
