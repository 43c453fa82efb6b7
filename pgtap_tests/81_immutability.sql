-- Stored events are immutable (issue 7): UPDATE, DELETE and TRUNCATE of eventstore.events
-- fail with ES423 for everybody, the owner and superusers included, unless a member of
-- eventstore_admin sets eventstore.permit_event_change for its transaction.
begin;
select plan(18);

select has_trigger('eventstore', 'events', 'events_refuse_change', 'events has the immutability trigger');
select is((select tgenabled from pg_trigger where tgname = 'events_refuse_change'), 'A'::"char",
          'the trigger is ENABLE ALWAYS (it fires under session_replication_role = replica too)');

select eventstore.append_to_stream('order-1', -1,
    '[{"type": "Placed", "data": {"total": 1}}, {"type": "Paid", "data": {}}]');

-- As the superuser who owns the table.
select throws_ok($$update eventstore.events set data = '{"total": 2}'$$, 'ES423',
                 'events are immutable: UPDATE on eventstore.events is refused', 'UPDATE is refused even for a superuser');
select throws_ok($$delete from eventstore.events where version = 1$$, 'ES423',
                 'events are immutable: DELETE on eventstore.events is refused', 'DELETE is refused');
select throws_ok($$delete from eventstore.events where false$$, 'ES423', null,
                 'a DELETE that would touch no row is refused too (the check is per statement)');
select throws_ok($$truncate eventstore.events$$, 'ES423',
                 'events are immutable: TRUNCATE on eventstore.events is refused', 'TRUNCATE is refused');
set local session_replication_role = replica;
select throws_ok($$delete from eventstore.events$$, 'ES423', null, 'DELETE is refused under session_replication_role = replica');
reset session_replication_role;
set local eventstore.permit_event_change = 'true';
select throws_ok($$delete from eventstore.events$$, 'ES423', null, 'only the value on opens the admin path');
reset eventstore.permit_event_change;
select is((select count(*)::integer from eventstore.read_stream('order-1')), 2, 'both events are still stored');
select lives_ok($$select eventstore.append_event('order-1', 1, 'Shipped', '{}')$$, 'appends still work');

-- As a non-superuser owner of the table.
create role eventstore_test_owner nologin;
alter table eventstore.events owner to eventstore_test_owner;
grant usage on schema eventstore to eventstore_test_owner;
grant all on all tables in schema pg_temp to public;
grant all on all sequences in schema pg_temp to public;
set role eventstore_test_owner;
select throws_ok($$update eventstore.events set event_type = 'X'$$, 'ES423', null, 'UPDATE is refused for the table owner');
set local eventstore.permit_event_change = on;
select throws_ok($$delete from eventstore.events where version = 2$$, 'ES423', null,
                 'the admin path is refused to an owner who is not a member of eventstore_admin');
reset role;
grant eventstore_admin to eventstore_test_owner;
set role eventstore_test_owner;
select lives_ok($$delete from eventstore.events where version = 2$$,
                'a member of eventstore_admin with eventstore.permit_event_change = on may delete (the lifecycle path)');
reset role;
reset eventstore.permit_event_change;
select is((select max(version) from eventstore.events), 1::bigint, 'the admin path deleted exactly what it was told to');
select throws_ok($$truncate eventstore.events$$, 'ES423', null, 'after the transaction-local setting is reset, TRUNCATE is refused again');

-- As the superuser, through the admin path.
set local eventstore.permit_event_change = on;
select lives_ok($$update eventstore.events set metadata = '{"redacted": true}' where version = 0$$,
                'a superuser may update through the admin path');
reset eventstore.permit_event_change;
select is((select metadata from eventstore.events where version = 0), '{"redacted": true}'::jsonb, 'the update took effect');
select throws_ok($$update eventstore.events set metadata = null$$, 'ES423', null, 'and is refused again without it');

select * from finish();
rollback;
