-- eventstore.list_streams(category, max_count, after): the streams that have events,
-- newest first, one page at a time.
--
-- Result: stream_id, version (of the stream's last event), created_at (of its
-- first event) and updated_at (of its last append), ordered by created_at descending,
-- then stream_id descending. category (NULL: every category) keeps only streams of that
-- category (eventstore.category). after continues a listing: only streams that sort after
-- that stream in this order are returned, so pass the last stream_id of the previous page.
-- Guarantees: paging with after lists every stream that existed when the listing started
-- exactly once, even while others append (new streams sort first, so they never shift a
-- later page); ES400 for a max_count outside 1..100000 or an invalid after; ES404 when
-- after names a stream that does not exist. Cost: one scan of eventstore.streams.
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
        select s.created_at into v_after_created
          from eventstore.streams s
         where s.stream_id = p_after;
        if not found then
            raise exception using
                errcode = 'ES404',
                message = format('stream %s does not exist', quote_literal(p_after)),
                hint = 'Pass as after the stream_id of the last row of the previous page.';
        end if;
    end if;
    return query
        select s.stream_id, s.version, s.created_at, s.updated_at
          from eventstore.streams s
         where (p_category is null or eventstore.category(s.stream_id) = p_category)
           and (p_after is null
                or (s.created_at, s.stream_id) < (v_after_created, p_after collate "C"))
         order by s.created_at desc, s.stream_id desc
         limit p_max_count;
end;
$$;

comment on function eventstore.list_streams(text, integer, text) is
    'Lists streams with their versions, newest first, optionally of one category; page with after = the last stream_id seen.';
