"""Business operations, one place for each: views, the API, tasks and commands all call these.

Services take keyword arguments and domain objects, write the access log and send
background work with ``recognition.background.after_commit``. They may import models,
selectors, ``audit``, ``roles`` and ``engine``; never views, the API or ``tasks``.
"""
