"""feedsvc: RSS 2.0, Atom and JSON Feed from a folder of Markdown posts.

The package root is a library: importing ``feedsvc`` or a core module loads no Flask. The web
application is built by ``feedsvc.app.create_app``.
"""

__version__ = "0.1.0"
