-- eventstore.is_processed(checkpoint, log_number): has a consumer whose checkpoint (the
-- log number of the last event it processed, 0 for none) is `checkpoint` processed the
-- event numbered log_number?
--
-- Log numbers are assigned in log order, so the answer is log_number <= checkpoint; the
-- function stays for callers written when cursors were not comparable.
-- Guarantees: a pure comparison; ES400 for a NULL argument.
create or replace function eventstore.is_processed(checkpoint bigint, log_number bigint)
returns boolean
language plpgsql
immutable
set search_path = pg_catalog, pg_temp
as $$
begin
    if is_processed.checkpoint is null or is_processed.log_number is null then
        raise exception using
            errcode = 'ES400',
            message = 'is_processed needs a checkpoint and a log number, got NULL',
            hint = 'Pass the checkpoint (0 for none) and the event''s log_number.';
    end if;
    return is_processed.log_number <= is_processed.checkpoint;
end;
$$;

comment on function eventstore.is_processed(bigint, bigint) is
    'True when the event numbered log_number is at or before the checkpoint in the global log.';
