"""Bring-up: start or join Ray, deploy the actor topology, and the ``robofleet`` command line."""
