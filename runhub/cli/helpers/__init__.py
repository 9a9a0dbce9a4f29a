"""What the commands share: the session (global options and the client), argument
types, reading specs and refs, rendering, following runs, downloads and logging.

Each ``runhub/cli/<command>.py`` defines one command (or command group) and imports
from here; nothing here defines a command.
"""
