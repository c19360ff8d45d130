"""Validated specifications: no Pulumi here, all input validation happens in this package."""
