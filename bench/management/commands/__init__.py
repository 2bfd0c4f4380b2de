"""The benchmark commands, run with ``python -m bench COMMAND`` (see :mod:`bench`); nothing imports them."""
