"""The local stack: the services as child processes (supervisor), their ports and signals."""
