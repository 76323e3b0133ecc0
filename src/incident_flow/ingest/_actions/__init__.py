"""Inbound actions, one module per vendor: a webhook body -> the :class:`Action` s in it."""
