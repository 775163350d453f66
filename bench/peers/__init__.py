"""Peers and seeds, served under the same server model and load as our app (see compare.py)."""
