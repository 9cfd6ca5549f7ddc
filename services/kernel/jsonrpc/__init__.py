"""JSON-RPC 2.0 over WebSocket: the codec, the error map, the server loop and a client.

Conventions every service follows (docs/protocols.md, "WebSocket"):
- params are by name (an object); a reserved member `_meta` may carry `correlation_id`;
- batches are refused (one socket already multiplexes concurrent requests by id);
- domain errors leave as error objects whose `data.code` is the DomainError's code.
"""
