"""The Ray form of the actors: one file per Ray actor, with its options and its typed client.

- ``orchestrator``: OrchestratorActor (``orchestrator``), orchestrator_options,
  OrchestratorClient.
- ``replica``: ReplicaActor (``module:<name>:<n>`` or ``<prefix>:<n>``), replica_options,
  RayReplicaDriver.
- ``cache``: CacheActor (``cache``) and its Ray metrics, cache_options, RayCacheCalls.
- ``documents``: RemoteDocuments (the ``documents`` shelf), documents_options, RayDocuments.
- ``common``: what they share (the head-node resource, the errors of a lost actor, the
  orchestrator's name and handle, ``NamedActorClient`` for the clients of named actors).

The classes these files wrap are plain and live one level up, in ``actors/``.
"""
