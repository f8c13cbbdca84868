"""Behalf: permission passports for AI agents.

The generated v1 contract lives in `behalf.v1`; the services in `behalf.registry`,
`behalf.verifier` and `behalf.dispatcher`.
"""
