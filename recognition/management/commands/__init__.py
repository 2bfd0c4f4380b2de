"""``manage.py`` commands: thin, they parse arguments and call services. Nothing imports them."""
