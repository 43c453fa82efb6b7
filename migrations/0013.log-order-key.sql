-- 0013: appends write two index entries less per event: the events' primary key is their
-- place in the log order, (transaction_id, global_position), and the category index moves
-- to the log.
--
-- Every append wrote an index entry into two indexes that hold the same thing: the primary
-- key on global_position and the index on (transaction_id, global_position) through which
-- eventstore.number_log finds the events after the newest numbered one, in the gap-safe
-- order. global_position is an identity, unique by itself, so the pair is unique too, and
-- one unique index on the pair serves as the primary key and as that order: one index
-- entry less per appended event, on every append (docs/performance.md, round 7). A log
-- reader reaches an event through the pair, which eventstore.log keeps for every number.
-- Nothing in the store looks an event up by global_position alone; such a lookup no
-- longer has an index of its own (the (stream_id, version) and event_id keys remain).
--
-- Building the index reads the whole events table and blocks appends meanwhile (about a
-- second per million events here): upgrade a large store in a quiet moment.
create unique index events_log_order_key on eventstore.events (transaction_id, global_position);

alter table eventstore.events
    drop constraint events_pkey,
    add constraint events_pkey primary key using index events_log_order_key;

drop index eventstore.events_transaction_position_idx;

-- A category's events in log order used to be found through events_category_idx
-- (category, transaction_id, global_position), written by every append. The log now keeps
-- each numbered event's category (eventstore.category of its stream id), written by
-- eventstore.number_log, and eventstore.read_category reads one range of
-- log_category_idx (category, log_number): the index entry moves from the append, where
-- every writer pays it, to the numbering, which readers do in batches. The category of a
-- number whose event is no longer stored is NULL: such a number is never read.
-- The update below rewrites every row of the log once.
alter table eventstore.log add column category text collate "C";

update eventstore.log l
   set category = eventstore.category(e.stream_id)
  from eventstore.events e
 where e.transaction_id = l.transaction_id
   and e.global_position = l.global_position;

create index log_category_idx on eventstore.log (category, log_number);

drop index eventstore.events_category_idx;

insert into eventstore.schema_migrations (migration_id) values ('0013.log-order-key');
