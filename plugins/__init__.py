"""ganzoo's built-in plugins (installed as `ganzoo_plugins`).

Each module here is a plugin exactly as a third-party package would write it: components
and hook implementations, registered through `ganzoo.hookspecs`.
"""
