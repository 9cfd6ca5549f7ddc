"""JSON-RPC 2.0 over WebSocket: the codec, the error map, the server loop and a client.

Conventions every service follows (docs/protocols.md, "WebSocket"):
- params are by name (an object); a reserved member `_meta` may carry `correlation_id`;
- batches (JSON-RPC 2.0 §6) of up to `server.MAX_BATCH` requests, each run as if sent alone;
- domain errors leave as error objects whose `data.code` is the DomainError's code.
"""
