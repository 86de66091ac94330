"""Communications: templates, outbound channels and the outbox, inbound email, surveys."""
