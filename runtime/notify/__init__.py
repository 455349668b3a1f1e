"""Notifications: the ``notify`` action of rules, templates, the outbox and its channels."""
