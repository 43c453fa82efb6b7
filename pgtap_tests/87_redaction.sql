-- Redaction (issue 19): eventstore.redact_event replaces one event's data and/or metadata
-- with {"$redacted": true} in place, keeping its identity and log number, and records who,
-- when and why. And the privileges of personal data: only the owner reads keys and
-- ciphertext; only eventstore_admin forgets and redacts. Statements commit (log numbers).
select plan(30);

grant all on all tables in schema pg_temp to public;
grant all on all sequences in schema pg_temp to public;

select eventstore.append_to_stream('ticket-1', -1,
    '[{"type": "Opened", "data": {"title": "login fails"}, "metadata": {"trace": "t-1"}},
      {"type": "Commented", "data": {"text": "my password is hunter2"}, "metadata": {"user": "u-7", "ip": "10.0.0.7"}},
      {"type": "Closed", "data": {}}]');
select eventstore.append_event('ticket-2', -1, 'Opened', '{"email": "bob@example.com", "title": "x"}',
                               '{"$subject": "c-5", "$personal": ["email"], "ip": "10.0.0.9"}');
select eventstore.number_log();
create table before_redaction as
select l.log_number, e.* from eventstore.events e join eventstore.log l using (global_position);

-- ---- data ----
create table redaction_1 as
select * from eventstore.redact_event((select event_id from eventstore.events where stream_id = 'ticket-1' and version = 1),
                                      'a password pasted into a comment');
select is((select data from eventstore.read_stream('ticket-1') where version = 1), '{"$redacted": true}'::jsonb,
          'the data reads as the marker');
select is((select metadata from eventstore.read_stream('ticket-1') where version = 1), '{"user": "u-7", "ip": "10.0.0.7"}'::jsonb,
          'metadata is kept unless asked for');
select is((select (l.log_number, e.stream_id, e.version, e.event_id, e.global_position, e.event_type, e.recorded_at, e.transaction_id)::text
             from eventstore.events e join eventstore.log l using (global_position) where e.stream_id = 'ticket-1' and e.version = 1),
          (select (log_number, stream_id, version, event_id, global_position, event_type, recorded_at, transaction_id)::text
             from before_redaction where stream_id = 'ticket-1' and version = 1),
          'stream, version, id, position, log number, type and time are kept');
select is((select (data, metadata)::text from eventstore.read_all(0, 10) where stream_id = 'ticket-1' and version = 1),
          '("{""$redacted"": true}","{""ip"": ""10.0.0.7"", ""user"": ""u-7""}")', 'read_all returns the marker');
select is((select count(*)::integer from eventstore.events where data::text like '%hunter2%'), 0, 'the value is stored nowhere');
select is((select count(*)::integer from eventstore.redactions r where r.reason like '%hunter2%'), 0, '(the test''s reason names none)');
select is((select (event_id, redacted_data, redacted_metadata, reason, redacted_by)::text from redaction_1),
          (select (event_id, true, false, 'a password pasted into a comment'::text, session_user::text)::text
             from eventstore.events where stream_id = 'ticket-1' and version = 1),
          'the call returns the audit row: what, why and who');
select is((select count(*)::integer from eventstore.redactions), 1, 'one audit row');
select is(array(select (stream_id, version, data)::text from eventstore.events where not (stream_id = 'ticket-1' and version = 1) order by global_position),
          array(select (stream_id, version, data)::text from before_redaction where not (stream_id = 'ticket-1' and version = 1) order by global_position),
          'no other event changes');
select is(current_setting('eventstore.permit_event_change', true), '', 'the maintenance path is closed again');
select throws_ok($$update eventstore.events set data = '{}' where stream_id = 'ticket-1'$$, 'ES423', null,
                 'events are still immutable after a redaction');

-- ---- metadata, and a subject's event ----
select eventstore.redact_event((select event_id from eventstore.events where stream_id = 'ticket-2'),
                               'an IP address in metadata', data => false, metadata => true);
select is((select metadata from eventstore.read_stream('ticket-2')),
          '{"$redacted": true, "$subject": "c-5", "$personal": ["email"]}'::jsonb,
          'redacted metadata keeps only the subject''s marking');
select is((select data from eventstore.read_stream('ticket-2')), '{"email": "bob@example.com", "title": "x"}'::jsonb,
          'so the personal fields still decrypt');
select eventstore.redact_event((select event_id from eventstore.events where stream_id = 'ticket-1' and version = 0),
                               'both', data => true, metadata => true);
select is((select (data, metadata)::text from eventstore.read_stream('ticket-1') where version = 0),
          '("{""$redacted"": true}","{""$redacted"": true}")', 'data and metadata together');
select is((select count(*)::integer from eventstore.redactions), 3, 'each call is recorded');
select throws_ok($$select eventstore.redact_event(gen_random_uuid(), 'why')$$, 'ES404', null, 'an unknown event is ES404');
select throws_ok($$select eventstore.redact_event((select event_id from eventstore.events limit 1), '')$$, 'ES400', null,
                 'an empty reason is ES400');
select throws_ok($$select eventstore.redact_event((select event_id from eventstore.events limit 1), 'why', false, false)$$,
                 'ES400', 'nothing to redact: data and metadata are both false (or NULL)', 'nothing to redact is ES400');

-- ---- privileges ----
create role eventstore_test_reader_19 login;
create role eventstore_test_writer_19 login;
create role eventstore_test_admin_19 login;
grant eventstore_reader to eventstore_test_reader_19;
grant eventstore_writer to eventstore_test_writer_19;
grant eventstore_admin to eventstore_test_admin_19;

set role eventstore_test_writer_19;
select lives_ok($$select eventstore.append_event('ticket-3', -1, 'Opened', '{"email": "eve@example.com"}', '{"$subject": "c-6", "$personal": ["email"]}')$$,
                'a writer appends personal data');
select is((select data from eventstore.read_stream('ticket-3')), '{"email": "eve@example.com"}'::jsonb,
          'and reads it decrypted');
select throws_ok($$select * from eventstore.subject_keys$$, '42501', null, 'a writer cannot read the keys');
select throws_ok($$select * from eventstore.events$$, '42501', null, 'nor the stored ciphertext');
select throws_ok($$select eventstore.forget_subject('c-5')$$, '42501', null, 'nor forget a subject');
select throws_ok($$select eventstore.redact_event(gen_random_uuid(), 'x')$$, '42501', null, 'nor redact');
reset role;
set role eventstore_test_reader_19;
select is((select data from eventstore.read_stream('ticket-2')), '{"email": "bob@example.com", "title": "x"}'::jsonb,
          'a reader reads personal fields decrypted');
select throws_ok($$select eventstore.decrypt_personal_data('{"$ciphertext": "x"}', '{"$subject": "c-5"}')$$, '42501', null,
                 'a reader cannot decrypt arbitrary ciphertext');
select throws_ok($$select eventstore.readable_data('{"$ciphertext": "x"}', '{"$subject": "c-5"}')$$, '42501', null,
                 'not through the inlined rule either');
select throws_ok($$select eventstore.decrypt_with_key('x', '\x00')$$, '42501', null, 'nor call the cipher');
select throws_ok($$select * from eventstore.redactions$$, '42501', null, 'nor read the audit of redactions');
reset role;
set role eventstore_test_admin_19;
select lives_ok($$select eventstore.forget_subject('c-6')$$, 'an admin forgets a subject');
reset role;

select * from finish();
drop role eventstore_test_reader_19;
drop role eventstore_test_writer_19;
drop role eventstore_test_admin_19;
