-- eventstore.log_key(): the current transaction's id as the global log records it,
-- eventstore.framed_xid(pg_current_xact_id(), offset), before the per-stream rule of the
-- appends (greatest of it and the id recorded with the stream's last event).
--
-- Guarantees: needs the session setting eventstore.log_offset, which
-- eventstore.check_log_frame sets (the appends call that first in each session); without
-- it, 42704. Assigns the transaction an id if it has none. Inlined into its callers
-- (SQL-standard body, SECURITY INVOKER, no SET clause: grants.sql keeps it so).
create or replace function eventstore.log_key()
returns xid8
language sql
volatile
return eventstore.framed_xid(pg_catalog.pg_current_xact_id(),
                             pg_catalog.current_setting('eventstore.log_offset')::pg_catalog.int8);

comment on function eventstore.log_key() is
    'The current transaction''s id as the global log records it (after eventstore.check_log_frame in the session).';
