-- Console sign-in sessions, shared by every console replica. The browser's cookie holds a
-- random 256-bit id; only its SHA-256 is stored. The API key and the session's state (queued
-- flashes, show-once secrets) are AES-256-GCM sealed with a key derived from
-- BEHALF_CONSOLE_SECRET: `nonce || ciphertext || tag`. The CSRF token is not stored: it is
-- HMAC(console secret, cookie id), which every replica computes.
CREATE TABLE sessions (
    id_hash bytea PRIMARY KEY CHECK (octet_length(id_hash) = 32),
    tenant_id text NOT NULL,
    tenant_name text NOT NULL,
    role text NOT NULL CHECK (role IN ('admin', 'audit_read')),
    actor text NOT NULL,
    api_key_sealed bytea NOT NULL,
    state_sealed bytea NOT NULL,
    created_at timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    -- The earlier of idle expiry (last_seen_at + idle) and absolute expiry (created_at + max).
    expires_at timestamptz NOT NULL
);
CREATE INDEX sessions_expires_at ON sessions (expires_at);
