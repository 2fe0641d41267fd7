"""The web console: a static single-page app (HTML, CSS and ES modules, no build step) that
the gateway serves at ``/console``. It talks to the public HTTP API only, with the user's key,
so everything it does can be scripted; this package holds its files and no Python logic."""
