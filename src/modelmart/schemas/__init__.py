"""The wire schemas: every shape the server and the SDK exchange, defined once.

The gateway validates requests and writes answers with these classes and the SDK parses
answers back into the very same ones. Modules here import only pydantic and the shared
``modelmart.config``, ``modelmart.errors`` and ``modelmart.types``, never a server module, so
``pip install modelmart`` (the SDK and CLI alone) can import them.
"""
