-- eventstore.list_streams(category, max_count, after) on the router of a sharded store:
-- the unsharded function's pages, merged from every shard.
--
-- Guarantees: the same result, order (created_at descending, then stream_id descending)
-- and paging contract as the unsharded eventstore.list_streams, every stream of every
-- shard listed once while paging with after; the same errors, raised by the shard of the
-- after stream (ES400, ES404). Each shard answers from its own snapshot: a stream created
-- while a page is read is listed or not, as on one database. Cost: one call to after's
-- shard, then eventstore.list_streams_before on every shard, max_count rows from each.
create or replace function eventstore_router.list_streams_at(
    at_stream text,
    category text,
    max_count integer,
    after text
)
returns table (
    stream_id text,
    version bigint,
    created_at timestamptz,
    updated_at timestamptz
)
language plproxy
as $$
    cluster 'eventstore';
    run on coalesce(pg_catalog.hashtext(at_stream), 0);
    select stream_id, version, created_at, updated_at from eventstore.list_streams(category, max_count, after);
$$;

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
    v_created timestamptz;
    v_state text;
    v_message text;
    v_detail text;
    v_hint text;
begin
    if list_streams.after is not null then
        -- The after stream's shard checks the arguments as the unsharded store does.
        perform from eventstore_router.list_streams_at(
            list_streams.after, list_streams.category, list_streams.max_count, list_streams.after);
        select r.recorded_at into v_created from eventstore_router.read_stream(list_streams.after, 0, 1, false) r;
    end if;
    return query
        select s.stream_id, s.version, s.created_at, s.updated_at
          from eventstore_router.list_streams_before(
                   list_streams.category, list_streams.max_count, v_created, list_streams.after) s
         order by s.created_at desc, s.stream_id collate "C" desc
         limit list_streams.max_count;
exception when others then
    get stacked diagnostics v_state = returned_sqlstate, v_message = message_text,
                            v_detail = pg_exception_detail, v_hint = pg_exception_hint;
    perform eventstore_router.reraise(v_state, v_message, v_detail, v_hint);
end;
$$;

comment on function eventstore_router.list_streams_at(text, text, integer, text) is
    'eventstore.list_streams on the shard of the stream at_stream (which checks the after argument).';
