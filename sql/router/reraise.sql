-- eventstore_router.reraise(sqlstate, message, detail, hint): raise a shard's error as the
-- shard raised it.
--
-- PL/Proxy passes a remote error on with its SQLSTATE but prefixes the message with the
-- proxy function and the shard ("f(n): [db] REMOTE ERROR: "), the DETAIL with
-- "Remote detail: " and the HINT with "Remote hint: ". Guarantees: always raises, with the
-- SQLSTATE given and those prefixes taken off, so a caller of the router sees the
-- unsharded store's message, JSON DETAIL and HINT; an error the router raised itself
-- (no such prefix) keeps its text. A missing DETAIL or HINT stays missing.
create or replace function eventstore_router.reraise(
    sqlstate text,
    message text,
    detail text,
    hint text
)
returns void
language plpgsql
immutable
set search_path = pg_catalog, pg_temp
as $$
declare
    v_message text := regexp_replace(reraise.message, '^\S+\(\d+\): \[[^]]*\] REMOTE [A-Z]+: ', '');
    v_detail text := nullif(regexp_replace(reraise.detail, '^Remote detail: ', ''), '');
    v_hint text := nullif(regexp_replace(reraise.hint, '^Remote hint: ', ''), '');
begin
    -- RAISE refuses a NULL option, so each combination of DETAIL and HINT has its own.
    if v_detail is not null and v_hint is not null then
        raise exception using errcode = reraise.sqlstate, message = v_message, detail = v_detail, hint = v_hint;
    elsif v_detail is not null then
        raise exception using errcode = reraise.sqlstate, message = v_message, detail = v_detail;
    elsif v_hint is not null then
        raise exception using errcode = reraise.sqlstate, message = v_message, hint = v_hint;
    end if;
    raise exception using errcode = reraise.sqlstate, message = v_message;
end;
$$;

comment on function eventstore_router.reraise(text, text, text, text) is
    'Raises a shard''s error with PL/Proxy''s REMOTE prefixes taken off its message, DETAIL and HINT.';
