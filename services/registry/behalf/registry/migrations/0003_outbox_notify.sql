-- Wake the watch streams and the relay the moment an outbox row commits. NOTIFY is delivered at
-- commit (never for a rolled-back row) and identical payloads in one transaction collapse to one,
-- so a mutation with several rows at one revision notifies once. Listeners also poll, so a lost
-- notification (for example a reconnecting listener) only delays, never stalls.
CREATE FUNCTION outbox_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('behalf_outbox', NEW.revision::text);
    RETURN NULL;
END;
$$;

CREATE TRIGGER outbox_notify
    AFTER INSERT ON outbox
    FOR EACH ROW EXECUTE FUNCTION outbox_notify();
