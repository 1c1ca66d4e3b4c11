"""Entrypoints: the HTTP app, its pages and streams, and the command line."""
