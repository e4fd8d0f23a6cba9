"""The rest of an uploaded artifact's life (docs/lifecycle.md): soft delete and restore, expiry and
the sweeper, share links, sealed runs with a signed manifest, and events through an outbox."""
