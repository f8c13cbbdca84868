"""The v1 contract, generated from protos/behalf/v1 by `make protos` (do not edit)."""
