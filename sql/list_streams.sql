-- eventstore.list_streams(category, max_count, after): the streams that have events,
-- newest first, one page at a time.
--
-- Result: stream_id, version (of the stream's last event), created_at (of its
-- first event) and updated_at (of its last append), ordered by created_at descending,
-- then stream_id descending. category (NULL: every category) keeps only streams of that
-- category (eventstore.category). after continues a listing: only streams that sort after
-- that stream in this order are returned, so pass the last stream_id of the previous page.
-- Streams that read as absent after eventstore.delete_stream and tombstoned streams are
-- not listed; a scavenged stream keeps its created_at and version.
-- Guarantees: paging with after lists every stream that existed when the listing started
-- exactly once, even while others append (new streams sort first, so they never shift a
-- later page); ES400 for a max_count outside 1..100000 or an invalid after; ES404 when
-- after names a stream that does not exist. Cost: the streams come from the index of first
-- events (events_stream_created_idx, newest first); each listed stream's last event is one
-- probe of the (stream_id, version) index. A category filter skips the other categories'
-- entries of that index.
create or replace function eventstore.list_streams(
    category text default null,
    max_count integer default 100,
    after text default null
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
declare
    p_category alias for $1;
    p_max_count alias for $2;
    p_after alias for $3;
    v_after_created timestamptz;
begin
    perform eventstore.check_max_count(p_max_count);
    if p_after is not null then
        perform eventstore.check_stream_id(p_after);
        select e.recorded_at into v_after_created
          from eventstore.events e
         where e.stream_id = p_after and e.version = 0;
        if not found then
            raise exception using
                errcode = 'ES404',
                message = format('stream %s does not exist', quote_literal(p_after)),
                hint = 'Pass as after the stream_id of the last row of the previous page.';
        end if;
    end if;
    return query
        select f.stream_id, l.version, f.recorded_at, l.recorded_at
          from (select e.stream_id, e.recorded_at
                  from eventstore.events e
                 where e.version = 0
                   and (p_category is null or eventstore.category(e.stream_id) = p_category)
                   -- not deleted (last row '$deleted') nor tombstoned
                   and not exists (
                         select from eventstore.stream_metadata m
                          where m.stream_id = e.stream_id
                            and (m.tombstoned
                                 or m.deleted_version = (select n.version from eventstore.events n
                                                          where n.stream_id = e.stream_id
                                                          order by n.version desc limit 1)))
                   and (p_after is null
                        or (e.recorded_at, e.stream_id) < (v_after_created, p_after collate "C"))
                 order by e.recorded_at desc, e.stream_id desc
                 limit p_max_count) f
          cross join lateral (
                select e.version, e.recorded_at
                  from eventstore.events e
                 where e.stream_id = f.stream_id
                 order by e.version desc
                 limit 1) l
         order by f.recorded_at desc, f.stream_id desc;
end;
$$;

comment on function eventstore.list_streams(text, integer, text) is
    'Lists streams with their versions, newest first, optionally of one category; page with after = the last stream_id seen.';
