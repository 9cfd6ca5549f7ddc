"""The broker style's plumbing, shared by every service: CloudEvents, the RabbitMQ topology, a
reconnecting pika link, the transactional outbox and its relay, the consumer that turns
deliveries into use-case calls (retrying through TTL queues, dead-lettering poison), and the
unit of work in which a use case reacts to one message exactly once (inbox and outbox)."""
