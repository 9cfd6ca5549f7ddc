"""The broker style's plumbing, shared by every service: CloudEvents, the RabbitMQ topology, a
reconnecting pika link, the transactional outbox and its relay, and the consumer that turns
deliveries into idempotent use-case calls (retrying through TTL queues, dead-lettering poison)."""
