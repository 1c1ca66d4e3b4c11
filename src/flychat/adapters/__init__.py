"""Adapters: one module per technology, each implementing a domain port."""
