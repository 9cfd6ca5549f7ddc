"""RabbitMQ plumbing: a private node, its installation, admin operations, the project's users."""
