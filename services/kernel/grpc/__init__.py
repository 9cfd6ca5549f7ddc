"""What every service's gRPC edge shares: the server builder, the server interceptor that adopts
correlation ids and maps errors to status codes, and the client side of downstream calls."""
