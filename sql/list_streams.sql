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
-- after names a stream that does not exist. The page itself is eventstore.list_streams_before's,
-- from the position of after's first event.
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
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
    v_after_created timestamptz;
begin
    if list_streams.after is not null then
        perform eventstore.check_stream_id(list_streams.after);
        select e.recorded_at into v_after_created
          from eventstore.events e
         where e.stream_id = list_streams.after and e.version = 0;
        if not found then
            raise exception using
                errcode = 'ES404',
                message = format('stream %s does not exist', quote_literal(list_streams.after)),
                hint = 'Pass as after the stream_id of the last row of the previous page.';
        end if;
    end if;
    return query
        select * from eventstore.list_streams_before(list_streams.category, list_streams.max_count,
                                                     v_after_created, list_streams.after);
end;
$$;

comment on function eventstore.list_streams(text, integer, text) is
    'Lists streams with their versions, newest first, optionally of one category; page with after = the last stream_id seen.';
