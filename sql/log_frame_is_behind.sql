-- eventstore.log_frame_is_behind(xid_offset): whether the stored events recorded
-- transaction ids that this cluster cannot have assigned in the log frame of offset
-- xid_offset: the newest recorded one is at or above the snapshot's xmax (in the frame)
-- and is not the current transaction's own.
--
-- Guarantees: read-only; one statement, so the recorded ids and the snapshot they are
-- compared with are read together (a committed event is always below the xmax of any
-- snapshot that sees it, in the cluster that wrote it).
create or replace function eventstore.log_frame_is_behind(xid_offset bigint)
returns boolean
language sql
stable
set search_path = pg_catalog, pg_temp
return (select f.newest >= eventstore.framed_xid(pg_snapshot_xmax(f.snapshot), $1)
               and f.newest > eventstore.framed_xid(coalesce(pg_current_xact_id_if_assigned(), '0'::xid8), $1)
          from (select pg_current_snapshot() as snapshot,
                       greatest((select max(e.transaction_id) from eventstore.events e),
                                (select max(l.transaction_id) from eventstore.log l)) as newest) f);

comment on function eventstore.log_frame_is_behind(bigint) is
    'Whether the stored events recorded transaction ids ahead of any this cluster can have assigned (in the log frame).';
