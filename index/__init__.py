"""The search index: a Whoosh index derived from the tree, rebuilt from it at any time."""

from .whoosh_lengths import install

install()
