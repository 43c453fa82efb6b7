-- eventstore.stream_id_is_valid(stream_id): whether stream_id is a valid stream id.
--
-- Guarantees: the one home of the stream id rule: true exactly for a non-NULL id of 1 to
-- 255 characters with no control characters (U+0001 to U+001F, U+007F to U+009F, whatever
-- the locale) that does not start with '-'; false otherwise, never NULL, never raises.
-- eventstore.check_stream_id raises ES400 when it is false and says which part failed.
-- A stream's category is the part of its id before the first '-' (eventstore.category):
-- an id starting with '-' would have an empty category, which no category reader or
-- consumer group can name.
-- Inlined into its callers: a SQL-standard body (its names are bound when it is created,
-- so search_path cannot redirect them), no SET clause and SECURITY INVOKER (grants.sql
-- keeps it so).
create or replace function eventstore.stream_id_is_valid(stream_id text)
returns boolean
language sql
immutable
parallel safe
return $1 is not null
       and pg_catalog.length($1) operator(pg_catalog.<@) '[1,255]'::pg_catalog.int4range
       -- A leading '-', or a control character as explicit code points (C0, DEL, C1):
       -- [[:cntrl:]] follows the database's locale, which would make the set of valid ids
       -- depend on how the cluster was initialised. One pattern, one call.
       and $1 operator(pg_catalog.!~) '^-|[\u0001-\u001f\u007f-\u009f]';

comment on function eventstore.stream_id_is_valid(text) is
    'Whether the argument is a valid stream id (1 to 255 characters, no control characters, not starting with ''-'').';
