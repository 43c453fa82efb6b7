-- eventstore.framed_xid(transaction_id, xid_offset): a transaction id of this cluster as
-- the global log records it: transaction_id + xid_offset (eventstore.log_frame).
--
-- Guarantees: a pure function; the identity when xid_offset is 0, as in the cluster that
-- wrote the events. Inlined into its callers (SQL-standard body, SECURITY INVOKER, no SET
-- clause: grants.sql keeps it so), its names bound to pg_catalog when it is created.
create or replace function eventstore.framed_xid(transaction_id xid8, xid_offset bigint)
returns xid8
language sql
immutable
strict
parallel safe
return case
    when $2 operator(pg_catalog.=) 0 then $1
    else ((($1)::pg_catalog.text::pg_catalog.numeric operator(pg_catalog.+) $2)::pg_catalog.text)::pg_catalog.xid8
end;

comment on function eventstore.framed_xid(xid8, bigint) is
    'A transaction id as the global log records it: transaction_id + xid_offset (the log frame).';
