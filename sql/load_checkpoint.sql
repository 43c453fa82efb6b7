-- eventstore.load_checkpoint(subscription): the subscription's checkpoint, the global
-- position of the last event it processed; 0 when it has none (read from the start).
--
-- Guarantees: never NULL; 0 for an unknown subscription, the value to pass as expected
-- to eventstore.save_checkpoint for its first save.
create or replace function eventstore.load_checkpoint(subscription text)
returns bigint
language sql
stable
set search_path = pg_catalog, pg_temp
return coalesce((select c.position from eventstore.checkpoints c where c.subscription = $1), 0);

comment on function eventstore.load_checkpoint(text) is
    'The subscription''s checkpoint (global position of the last event processed), 0 when it has none.';
