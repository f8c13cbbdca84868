"""Shared building blocks of the Behalf services: config, logging, errors, server host."""
