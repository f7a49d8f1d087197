"""Requests the server makes to the outside world, under the operator's rules."""
