-- Scavenging (issue 18): eventstore.scavenge removes exactly what the stream lifecycle
-- made unreadable, in bounded batches, only numbered events, leaving placeholders that
-- keep versions taken; readers, cursors, checkpoints, subscription_lag, list_streams and
-- stats see the same before and after; the audit; who may scavenge. Statements commit
-- (no enclosing transaction): numbering sees only ended transactions.
select plan(54);

-- ---- the streams ----
select eventstore.append_to_stream('keep-1', -1, '[{"type": "A", "data": 0}, {"type": "A", "data": 1}]');
select eventstore.append_to_stream('del-1', -1, '[{"type": "A", "data": 0}, {"type": "A", "data": 1}, {"type": "A", "data": 2}]');
select eventstore.append_to_stream('tomb-1', -1, '[{"type": "A", "data": 0}, {"type": "A", "data": 1}]');
select eventstore.append_to_stream('cnt-1', -1,
    '[{"type": "A", "data": 0}, {"type": "A", "data": 1}, {"type": "A", "data": 2}, {"type": "A", "data": 3}, {"type": "A", "data": 4}]');
select eventstore.append_to_stream('trunc-1', -1,
    '[{"type": "A", "data": 0}, {"type": "A", "data": 1}, {"type": "A", "data": 2}, {"type": "A", "data": 3}]');
select eventstore.save_snapshot('trunc-1', 1, '{"s": 1}');
insert into eventstore.events (stream_id, version, event_id, event_type, data, recorded_at)
values ('age-1', 0, gen_random_uuid(), 'T', '0', now() - interval '2 days'),
       ('age-1', 1, gen_random_uuid(), 'T', '1', now() - interval '2 days');
select eventstore.append_event('keep-1', 1, 'A', '2');
select eventstore.log_head();

-- A checkpoint and a cursor naming an event that will be removed: del-1's version 1.
create table removed_event as
select l.log_number, l.event_id from eventstore.log l
  join eventstore.events e on e.global_position = l.global_position
 where e.stream_id = 'del-1' and e.version = 1;
select eventstore.save_checkpoint('sub-a', (select log_number from removed_event), 0);

select eventstore.delete_stream('del-1', 2);
select eventstore.tombstone_stream('tomb-1', 1);
select eventstore.set_stream_metadata('cnt-1', '{"max_count": 2}');
select eventstore.set_stream_metadata('trunc-1', '{"truncate_before": 2}');
select eventstore.set_stream_metadata('age-1', '{"max_age": "1 day"}');

-- What every reader sees before scavenging.
create table before_all as select * from eventstore.read_all(0, 10000);
create table before_streams as select * from eventstore.list_streams();
create table before_stats as select kind, name, streams from eventstore.stats() where kind <> 'type';
create table before_lag as select subscription, position, events_behind from eventstore.subscription_lag();
create table before_head as select eventstore.log_head() as head;

select is((select count(*)::integer from before_all), 7,
          'read_all skips deleted, tombstoned, truncated, expired and windowed events before scavenging');
select is(array(select stream_id || ':' || version from before_all order by log_number),
          array['keep-1:0', 'keep-1:1', 'cnt-1:3', 'cnt-1:4', 'trunc-1:2', 'trunc-1:3', 'keep-1:2'],
          'exactly the readable events, in log order');
select is(array(select stream_id || ':' || version from eventstore.read_category('cnt')), array['cnt-1:3', 'cnt-1:4'],
          'read_category skips them too');

-- ---- dry run ----
create table plan as select * from eventstore.scavenge(dry_run => true);
select is((select sum(events_removed)::integer from plan), 12, 'dry run: 12 events to remove');
select set_eq($$select stream_id, rule, events_removed from plan$$,
              $$values ('age-1', 'max_age', 2::bigint), ('cnt-1', 'max_count', 3::bigint),
                       ('del-1', 'delete', 3::bigint), ('tomb-1', 'tombstone', 2::bigint),
                       ('trunc-1', 'truncate_before', 2::bigint)$$,
              'dry run: per stream and rule');
select is((select count(*)::integer from eventstore.events where global_position > 0), 19, 'dry run removed nothing');
select is_empty($$select * from eventstore.list_scavenges()$$, 'dry run recorded nothing');

-- ---- an event not numbered yet is not removed ----
begin;
select eventstore.append_event('late-1', -1, 'A', '0');
select eventstore.set_stream_metadata('late-1', '{"truncate_before": 5}');
select is_empty($$select * from eventstore.scavenge() where stream_id = 'late-1'$$,
                'an event without a log number (its transaction is open) is not removed');
rollback;

-- ---- bounded batches ----
create table batches (n integer, removed bigint);
select is((select sum(events_removed)::integer from eventstore.scavenge(4)), 4, 'a batch removes at most max_events');
do $$
declare
    v_removed bigint;
begin
    for v_batch in 1 .. 20 loop
        select coalesce(sum(events_removed), 0) into v_removed from eventstore.scavenge(4);
        insert into batches values (v_batch, v_removed);
        exit when v_removed = 0;
    end loop;
end;
$$;
select is((select sum(removed)::integer from batches), 8, 'the following batches remove the remaining 8');
select ok((select max(removed) from batches) <= 4, 'each of them at most 4');
select is_empty($$select * from eventstore.scavenge(dry_run => true)$$, 'nothing is left to remove');
select is((select count(*)::integer from eventstore.events where global_position > 0), 7, 'only the readable events are stored');

-- ---- readers see the same ----
select set_eq($$select * from eventstore.read_all(0, 10000)$$, $$select * from before_all$$,
              'read_all gives the same events after scavenging');
select set_eq($$select * from eventstore.list_streams()$$, $$select * from before_streams$$, 'list_streams is the same');
select set_eq($$select kind, name, streams from eventstore.stats() where kind <> 'type'$$,
              $$select * from before_stats where name is null or name <> 'age' and name <> 'tomb' and name <> 'del'$$,
              'stats: the same streams; categories whose events were all removed have no row');
select is((select (streams, events)::text from eventstore.stats() where kind = 'total'), '(6,7)',
          'stats: every stream still counted, the stored events');
select set_eq($$select subscription, position, events_behind from eventstore.subscription_lag()$$,
              $$select * from before_lag$$, 'subscription_lag is the same');
select is(eventstore.log_head(), (select head from before_head), 'log_head is the same');
select is(array(select version from eventstore.read_stream('cnt-1')), array[3, 4]::bigint[], 'read_stream: max_count window');
select is(array(select kind || version from eventstore.load_stream('trunc-1')), array['event2', 'event3'],
          'load_stream: truncated');

-- ---- a removed event's log number stays a valid cursor and checkpoint ----
select is(eventstore.load_checkpoint('sub-a'), (select log_number from removed_event),
          'load_checkpoint of a checkpoint naming a removed event: no ES404/ES419');
select lives_ok(format('select eventstore.check_log_cursor(%s, %L)',
                       (select log_number from removed_event), (select event_id from removed_event)),
                'check_log_cursor accepts it');
select is(array(select stream_id || ':' || version
                  from eventstore.read_all((select log_number from removed_event), 10000, null, null,
                                           (select event_id from removed_event))),
          array(select stream_id || ':' || version from before_all
                 where log_number > (select log_number from removed_event) order by log_number),
          'read_all from it continues with the next readable event');
select ok(eventstore.save_checkpoint('sub-a', (select max(log_number) from before_all),
                                     (select log_number from removed_event)),
          'save_checkpoint moves forward from it');
select ok(eventstore.save_checkpoint('sub-b', (select log_number from removed_event), 0),
          'a new checkpoint may name a removed event');
select is(eventstore.load_checkpoint('sub-b'), (select log_number from removed_event), 'and loads');

-- ---- placeholders keep the versions taken ----
select is(array(select version || event_type from eventstore.events where stream_id = 'del-1' order by version),
          array['0$scavenged', '3$deleted'], 'del-1: a placeholder at version 0, the deletion''s at 3');
select is((select stream_version from eventstore.append_event('del-1', -1, 'A', '"new"')), 4::bigint,
          'del-1: -1 starts it again after the deleted versions');
select throws_ok($$select eventstore.append_event('del-1', -1, 'A', '1')$$, 'ES409', null,
                 'then -1 is ES409 (version 0 still taken)');
select is(array(select version || event_type from eventstore.events where stream_id = 'age-1' order by version),
          array['0$scavenged', '1$scavenged'], 'age-1: everything expired; placeholders at 0 and at the last version');
select is(eventstore.stream_version('age-1'), 1::bigint, 'age-1 is still at version 1');
select is_empty($$select * from eventstore.read_stream('age-1')$$, 'and reads nothing');
select throws_ok($$select eventstore.append_event('age-1', -1, 'A', '1')$$, 'ES409', null, 'age-1: -1 is ES409');
select is((select stream_version from eventstore.append_event('age-1', 1, 'T', '2')), 2::bigint,
          'age-1: appending at the scavenged last version continues');
select is((select stream_version from eventstore.append_to_stream('age-1', null, '[{"type": "T", "data": 3}]')), 3::bigint,
          'and with any version');
select is(array(select version from eventstore.read_stream('age-1')), array[2, 3]::bigint[], 'the new events are readable');
select is((select stream_version from eventstore.append_to_stream('cnt-1', 4, '[{"type": "A", "data": 5}]')), 5::bigint,
          'cnt-1 continues at 5');
select throws_ok($$select eventstore.append_event('tomb-1', -1, 'A', '1')$$, 'ES410', null, 'tomb-1: -1 is still ES410');
select throws_ok($$select eventstore.append_event('tomb-1', 2, 'A', '1')$$, 'ES410', null,
                 'tomb-1: at the tombstone''s version ES410');
select throws_ok($$select eventstore.append_to_stream('tomb-1', null, '[{"type": "A", "data": 1}]')$$, 'ES410', null,
                 'tomb-1: any version ES410');

-- ---- scavenged versions stay unreadable; snapshots go with them ----
select eventstore.set_stream_metadata('trunc-1', '{}');
select is(array(select version from eventstore.read_stream('trunc-1')), array[2, 3]::bigint[],
          'relaxing the metadata after scavenging does not make removed versions readable');
select is_empty($$select * from eventstore.load_snapshot('trunc-1')$$, 'the snapshot older than what was removed is gone');

-- ---- the audit ----
select is((select sum(events_removed)::integer from eventstore.list_scavenges()), 12, 'the audit counts 12 events');
select ok((select bool_and(scavenged_by = session_user) from eventstore.list_scavenges()), 'and who ran it');
select set_eq($$select stream_id, rule, sum(events_removed)::bigint from eventstore.list_scavenges() group by 1, 2$$,
              $$select stream_id, rule, events_removed from plan$$, 'and which streams and rules, as the dry run said');

-- ---- argument errors ----
select throws_ok($$select eventstore.scavenge(0)$$, 'ES400', null, 'scavenge: max_events 0');
select throws_ok($$select eventstore.scavenge(10, null)$$, 'ES400', null, 'scavenge: NULL dry_run');
select throws_ok($$select eventstore.list_scavenges(null, 0)$$, 'ES400', null, 'list_scavenges: max_count 0');

-- ---- the admin path is closed again; who may scavenge ----
select throws_ok($$delete from eventstore.events where stream_id = 'keep-1'$$, 'ES423', null,
                 'after a scavenge, a raw DELETE is refused again');
grant all on all tables in schema pg_temp to public;
grant all on all sequences in schema pg_temp to public;
begin;
set local role eventstore_maintenance;
select lives_ok($$select eventstore.scavenge()$$, 'the maintenance role may scavenge');
select lives_ok($$select eventstore.list_scavenges()$$, 'and read the audit');
select throws_ok($$select eventstore.read_all()$$, '42501', null, 'but not read events');
rollback;
begin;
set local role eventstore_reader;
select throws_ok($$select eventstore.list_scavenges()$$, '42501', null, 'a reader may not read the audit');
rollback;

select * from finish();
