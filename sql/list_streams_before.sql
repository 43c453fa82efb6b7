-- eventstore.list_streams_before(category, max_count, before_created, before_stream): the
-- page of eventstore.list_streams that follows a position in its order, which need not
-- be a stream of this database.
--
-- Result: as eventstore.list_streams, the streams whose (created_at, stream_id) sorts
-- after (before_created, before_stream) in its order (created_at descending, then
-- stream_id descending; all streams when before_created is NULL), at most max_count.
-- Guarantees: the same order and page boundaries as eventstore.list_streams, for a
-- position taken from another database: the router of a sharded store asks every shard
-- for the page after the last stream listed, which lives on one shard only, and merges
-- them. Streams that read as absent after eventstore.delete_stream and tombstoned streams
-- are not listed; a scavenged stream keeps its created_at and version. ES400 for a
-- max_count outside 1..100000. This is the one home of the listing's page (list_streams
-- calls it). A stream is listed from the moment its first event is visible to the caller
-- (an uncommitted stream of the caller's own transaction too), as before log numbers.
-- Cost: it numbers the log (eventstore.number_log), which records every stream whose
-- first event it numbers in eventstore.stream_starts; the page merges that table's
-- index (newest first) with the first events not numbered yet; each listed stream's last
-- event is one probe of the (stream_id, version) index. A category filter skips the other
-- categories' entries of that index.
create or replace function eventstore.list_streams_before(
    category text,
    max_count integer,
    before_created timestamptz,
    before_stream text
)
returns table (
    stream_id text,
    version bigint,
    created_at timestamptz,
    updated_at timestamptz
)
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
    v_head eventstore.log;
begin
    perform eventstore.check_max_count(list_streams_before.max_count);
    -- The numbered streams are in eventstore.stream_starts; the others have their first
    -- event after the newest numbered one, a range of the events' primary key that this
    -- numbering leaves short (the events not yet readable, the caller's own included).
    if eventstore.number_log() is null then end if;
    select l.* into v_head from eventstore.log l order by l.log_number desc limit 1;
    return query
        select f.stream_id, l.version, f.created_at, l.recorded_at
          from (select s.stream_id, s.created_at
                  from (select t.stream_id, t.created_at
                          from eventstore.stream_starts t
                        union all
                        select e.stream_id, e.recorded_at
                          from eventstore.events e
                         where (e.transaction_id, e.global_position)
                               > (coalesce(v_head.transaction_id, '0'::xid8), coalesce(v_head.global_position, 0))
                           and e.version = 0
                           and e.global_position > 0) s
                 where (list_streams_before.category is null
                        or eventstore.category(s.stream_id) = list_streams_before.category)
                   -- not deleted (last row '$deleted') nor tombstoned
                   and not exists (
                         select from eventstore.stream_metadata m
                          where m.stream_id = s.stream_id
                            and (m.tombstoned
                                 or m.deleted_version = (select n.version from eventstore.events n
                                                          where n.stream_id = s.stream_id
                                                          order by n.version desc limit 1)))
                   -- One index condition whether or not there is a position (no stored
                   -- time is infinity), so that the plan PL/pgSQL keeps for every call
                   -- starts the scan there.
                   and (s.created_at, s.stream_id)
                       < (coalesce(list_streams_before.before_created, 'infinity'::timestamptz),
                          coalesce(list_streams_before.before_stream, '') collate "C")
                 order by s.created_at desc, s.stream_id desc
                 limit list_streams_before.max_count) f
          cross join lateral (
                select e.version, e.recorded_at
                  from eventstore.events e
                 where e.stream_id = f.stream_id
                 order by e.version desc
                 limit 1) l
         order by f.created_at desc, f.stream_id desc;
end;
$$;

comment on function eventstore.list_streams_before(text, integer, timestamptz, text) is
    'The page of list_streams after a (created_at, stream_id) position (used by the router of a sharded store).';
