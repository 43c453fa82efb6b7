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
-- calls it). Cost: the streams come from the index of first events
-- (events_stream_created_idx, newest first); each listed stream's last event is one probe
-- of the (stream_id, version) index. A category filter skips the other categories'
-- entries of that index.
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
stable
set search_path = pg_catalog, pg_temp
as $$
begin
    perform eventstore.check_max_count(list_streams_before.max_count);
    return query
        select f.stream_id, l.version, f.recorded_at, l.recorded_at
          from (select e.stream_id, e.recorded_at
                  from eventstore.events e
                 where e.version = 0
                   and (list_streams_before.category is null
                        or eventstore.category(e.stream_id) = list_streams_before.category)
                   -- not deleted (last row '$deleted') nor tombstoned
                   and not exists (
                         select from eventstore.stream_metadata m
                          where m.stream_id = e.stream_id
                            and (m.tombstoned
                                 or m.deleted_version = (select n.version from eventstore.events n
                                                          where n.stream_id = e.stream_id
                                                          order by n.version desc limit 1)))
                   and (list_streams_before.before_created is null
                        or (e.recorded_at, e.stream_id)
                           < (list_streams_before.before_created, list_streams_before.before_stream collate "C"))
                 order by e.recorded_at desc, e.stream_id desc
                 limit list_streams_before.max_count) f
          cross join lateral (
                select e.version, e.recorded_at
                  from eventstore.events e
                 where e.stream_id = f.stream_id
                 order by e.version desc
                 limit 1) l
         order by f.recorded_at desc, f.stream_id desc;
end;
$$;

comment on function eventstore.list_streams_before(text, integer, timestamptz, text) is
    'The page of list_streams after a (created_at, stream_id) position (used by the router of a sharded store).';
