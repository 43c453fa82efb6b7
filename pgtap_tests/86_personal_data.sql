-- Personal data (issue 19): an append naming a data subject stores its personal fields
-- encrypted with the subject's key; every reader returns them decrypted; forget_subject
-- destroys the key, after which they read as {"$redacted": true} and appends naming the
-- subject fail with ES451. Plain events never reach the crypto functions.
-- The statements commit (no enclosing transaction): the log readers number only the
-- events of ended transactions.
select plan(54);

select has_extension('pgcrypto', 'pgcrypto is installed');
select hasnt_trigger('eventstore', 'events', 'events_seal_personal_data',
                     'no sealing trigger: the append functions seal in their inserts (eventstore.stored_data)');

-- ---- round trips ----
select eventstore.append_event('customer-1', -1, 'Registered',
    '{"name": "Ada Lovelace", "email": "ada@example.com", "address": {"street": "1 Main St", "city": "Oslo"}, "plan": "gold"}',
    '{"$subject": "c-1", "$personal": ["name", "email", ["address", "street"], "phone"], "trace": "t-1"}');
select eventstore.append_to_stream('customer-1', 0,
    '[{"type": "Renamed", "data": {"name": "Ada King"}, "metadata": {"$subject": "c-1", "$personal": ["name"]}},
      {"type": "Noted", "data": ["a", "list", 1], "metadata": {"$subject": "c-1"}},
      {"type": "Plain", "data": {"n": 1}},
      {"type": "Empty", "data": {"plan": "free"}, "metadata": {"$subject": "c-1", "$personal": ["email"]}}]');
select eventstore.append_event('customer-2', -1, 'Registered', '{"name": "Grace Hopper", "plan": "basic"}',
                               '{"$subject": "c-2", "$personal": ["name"]}');
select eventstore.append_event('customer-2', 0, 'Scalar', '"grace@example.com"', '{"$subject": "c-2"}');
select eventstore.append_event('nested-1', -1, 'Nested', '{"a": {"b": 1, "c": 2}}',
                               '{"$subject": "c-3", "$personal": [["a", "b"], "a"]}');
select eventstore.append_event('nested-1', 0, 'Nested', '{"a": {"b": 1, "c": 2}}',
                               '{"$subject": "c-3", "$personal": ["a", ["a", "b"]]}');
select eventstore.append_to_stream('single-1', -1, '[{"type": "One", "data": {"name": "Alan"}, "metadata": {"$subject": "c-4"}}]');
select is((select data ? '$ciphertext' and not data ? 'name' from eventstore.events where stream_id = 'single-1'), true,
          'a one-event append to a new stream seals too');
select results_eq($$select subject collate "default", stream_id collate "default" from eventstore.subject_streams order by 1, 2$$,
                  $$values ('c-1'::text, 'customer-1'::text), ('c-2', 'customer-2'), ('c-3', 'nested-1'), ('c-4', 'single-1')$$,
                  'every stream that got a subject''s sealed events is recorded once, with the subject');

select is((select data from eventstore.read_stream('customer-1') where version = 0),
          '{"name": "Ada Lovelace", "email": "ada@example.com", "address": {"street": "1 Main St", "city": "Oslo"}, "plan": "gold"}'::jsonb,
          'read_stream returns the fields decrypted (an absent path stays absent)');
select is((select metadata from eventstore.read_stream('customer-1') where version = 0),
          '{"$subject": "c-1", "$personal": ["name", "email", ["address", "street"], "phone"], "trace": "t-1"}'::jsonb,
          'metadata is returned as appended');
select is((select data from eventstore.read_stream('customer-1') where version = 2), '["a", "list", 1]'::jsonb,
          'without "$personal" the whole of data is personal, whatever its JSON type');
select is((select data from eventstore.read_stream('customer-2') where version = 1), '"grace@example.com"'::jsonb,
          'a scalar whole data round-trips');
select is((select data from eventstore.events where stream_id = 'customer-1' and version = 4), '{"plan": "free"}'::jsonb,
          'an event whose personal paths are all absent is stored as it is, without ciphertext');
select is(array(select data from eventstore.read_stream('nested-1') order by version),
          array['{"a": {"b": 1, "c": 2}}', '{"a": {"b": 1, "c": 2}}']::jsonb[],
          'overlapping paths round-trip in either order');
select eventstore.append_event('odd-1', -1, 'Odd', '{"a,b": 1, "q\"x": [2], "{c} d": {"e f": 3}, "keep": 4}',
                               '{"$subject": "c-3", "$personal": ["a,b", "q\"x", ["{c} d", "e f"]]}');
select is((select data from eventstore.read_stream('odd-1')), '{"a,b": 1, "q\"x": [2], "{c} d": {"e f": 3}, "keep": 4}'::jsonb,
          'keys with commas, quotes, braces and spaces round-trip');
select is(array(select data from eventstore.read_all(0, 100) order by log_number),
          array(select data from eventstore.read_stream('customer-1') union all
                select data from eventstore.read_stream('customer-2') union all
                select data from eventstore.read_stream('nested-1') union all
                select data from eventstore.read_stream('single-1') union all
                select data from eventstore.read_stream('odd-1')),
          'read_all returns what read_stream returns');
select is((select data from eventstore.read_category('customer', 0, 100) where stream_id = 'customer-1' and version = 1),
          '{"name": "Ada King"}'::jsonb, 'read_category returns the fields decrypted');
select is((select data from eventstore.load_stream('customer-1') where version = 0),
          (select data from eventstore.read_stream('customer-1') where version = 0), 'load_stream returns the fields decrypted');

-- ---- what is stored ----
select is((select count(*)::integer from eventstore.events
            where data::text ~ '(Ada|Grace|example\.com|Main St|King)'), 0,
          'no personal value is stored in clear');
select is((select data - '$ciphertext' from eventstore.events where stream_id = 'customer-1' and version = 0),
          '{"name": null, "email": null, "address": {"street": null, "city": "Oslo"}, "plan": "gold"}'::jsonb,
          'the stored data keeps the other fields and JSON null at the personal paths');
select ok((select data ? '$ciphertext' and (select count(*) from jsonb_object_keys(data)) = 1
             from eventstore.events where stream_id = 'customer-1' and version = 2),
          'whole-data encryption stores only "$ciphertext"');
select is((select count(*)::integer from eventstore.subject_keys where octet_length(key) = 32), 4, 'one 32-byte key per subject');
select isnt((select key from eventstore.subject_keys where subject = 'c-1'),
            (select key from eventstore.subject_keys where subject = 'c-2'), 'subjects have different keys');
select isnt((select data ->> '$ciphertext' from eventstore.events where stream_id = 'nested-1' and version = 0),
            (select data ->> '$ciphertext' from eventstore.events where stream_id = 'nested-1' and version = 1),
            'the same values encrypt differently each time');

-- ---- invalid markings: ES400, nothing stored ----
select throws_ok($$select eventstore.append_event('bad-1', -1, 'T', '{}', '{"$subject": 42}')$$, 'ES400',
                 'metadata "$subject" must be a non-empty string, got 42', 'a non-string subject is ES400');
select throws_ok($$select eventstore.append_event('bad-1', -1, 'T', '{}', '{"$subject": ""}')$$, 'ES400', null,
                 'an empty subject is ES400');
select throws_ok($$select eventstore.append_event('bad-1', -1, 'T', '{"email": "e"}', '{"$personal": ["email"]}')$$, 'ES400',
                 'metadata "$subject" must be a non-empty string, got nothing', '"$personal" without "$subject" is ES400');
select throws_ok($$select eventstore.append_event('bad-1', -1, 'T', '{}', '{"$subject": "c-9", "$personal": "email"}')$$,
                 'ES400', null, '"$personal" that is not an array is ES400');
select throws_ok($$select eventstore.append_event('bad-1', -1, 'T', '{}', '{"$subject": "c-9", "$personal": []}')$$,
                 'ES400', null, 'an empty "$personal" is ES400');
select throws_ok($$select eventstore.append_event('bad-1', -1, 'T', '{}', '{"$subject": "c-9", "$personal": ["a", [1]]}')$$,
                 'ES400', 'metadata "$personal"[1] must be a key or a non-empty array of keys, got [1]',
                 'a path with a non-string key is ES400, naming the element');
select throws_ok($$select eventstore.append_event('bad-1', -1, 'T', '[1]', '{"$subject": "c-9", "$personal": ["a"]}')$$,
                 'ES400', null, 'named fields need object data');
select throws_ok($$select eventstore.append_event('bad-1', -1, 'T', '{"$ciphertext": 1}', '{"$subject": "c-9", "$personal": ["a"]}')$$,
                 'ES400', null, 'data may not hold "$ciphertext" when fields are named');
select throws_ok($$select eventstore.append_to_stream('bad-1', -1, '[{"type": "A", "data": {}}, {"type": "B", "data": {}, "metadata": {"$subject": 1}}]')$$,
                 'ES400', null, 'a bad marking in a batch refuses the whole batch');
select is((select count(*)::integer from eventstore.events where stream_id = 'bad-1'), 0, 'nothing of a refused append is stored');

-- ---- plain events never reach the crypto functions ----
begin;
set local track_functions = 'all';
create temp table calls_before as
select p.proname, pg_stat_get_xact_function_calls(p.oid) as calls
  from pg_proc p where p.pronamespace = 'eventstore'::regnamespace
   and p.proname in ('encrypt_personal_data', 'decrypt_personal_data', 'encrypt_with_key', 'decrypt_with_key');
select eventstore.append_event('plain-1', -1, 'P', '{"name": "not personal"}', '{"trace": 1}');
select eventstore.append_to_stream('plain-1', 0, '[{"type": "P", "data": 1}, {"type": "P", "data": 2, "metadata": {"a": 1}}]');
select count(*) from eventstore.read_stream('plain-1');
select count(*) from eventstore.read_category('plain', 0, 100);
select count(*) from eventstore.load_stream('plain-1');
select is((select sum(coalesce(pg_stat_get_xact_function_calls(p.oid), 0) - coalesce(b.calls, 0))::integer
             from pg_proc p join calls_before b using (proname)
            where p.pronamespace = 'eventstore'::regnamespace),
          0, 'appending and reading plain events calls no crypto function');
select cmp_ok((select coalesce(pg_stat_get_xact_function_calls('eventstore.decrypt_personal_data(jsonb,jsonb)'::regprocedure), 0)::integer
                 - coalesce((select calls from calls_before where proname = 'decrypt_personal_data'), 0)::integer
                 from (select count(*) from eventstore.read_stream('customer-1')) r), '=', 4,
              'reading a subject''s events calls decrypt once per event (the counter works)');
commit;

-- ---- forgetting ----
select eventstore.save_snapshot('customer-1', 1, '{"name": "Ada King"}', 1);
select eventstore.save_snapshot('plain-1', 0, '{}', 1);
create temp table stored_before as select global_position, data, metadata from eventstore.events;
create temp table forgotten as select * from eventstore.forget_subject('c-1');
select is((select (events, snapshots_deleted) from forgotten), row(4::bigint, 1::bigint),
          'forget_subject counts the subject''s events and deletes its streams'' snapshots');
select is((select key from eventstore.subject_keys where subject = 'c-1'), null, 'the key is destroyed');
select is((select forgotten_by from eventstore.subject_keys where subject = 'c-1'), session_user::text,
          'who forgot is recorded');
select is_empty($$select * from eventstore.load_snapshot('customer-1')$$, 'the subject''s snapshot is gone');
select isnt_empty($$select * from eventstore.load_snapshot('plain-1')$$, 'other snapshots stay');
select is((select data from eventstore.read_stream('customer-1') where version = 0),
          '{"name": {"$redacted": true}, "email": {"$redacted": true}, "address": {"street": {"$redacted": true}, "city": "Oslo"}, "plan": "gold"}'::jsonb,
          'each personal field reads as the marker; the other fields stay');
select is((select data from eventstore.read_stream('customer-1') where version = 2), '{"$redacted": true}'::jsonb,
          'whole personal data reads as the marker');
select is((select data from eventstore.read_stream('customer-1') where version = 4), '{"plan": "free"}'::jsonb,
          'an event with nothing encrypted is unchanged');
select is((select count(*)::integer from eventstore.read_all(0, 100) where data::text ~ '(Ada|King|Main St|ciphertext)'), 0,
          'read_all returns neither the values nor ciphertext');
select is((select count(*)::integer from eventstore.read_category('customer', 0, 100) where data::text ~ '(Ada|King|ciphertext)'), 0,
          'read_category neither');
select is((select data from eventstore.read_stream('customer-2') where version = 0), '{"name": "Grace Hopper", "plan": "basic"}'::jsonb,
          'another subject''s data is still readable');
select is(array(select (global_position, data, metadata)::text from eventstore.events order by global_position),
          array(select (global_position, data, metadata)::text from stored_before order by global_position),
          'forgetting changes no stored event');
select throws_ok($$select eventstore.append_event('customer-1', null, 'Back', '{"name": "Ada"}', '{"$subject": "c-1"}')$$,
                 'ES451', 'data subject c-1 has been forgotten: its personal data cannot be stored',
                 'an append naming a forgotten subject is ES451');
select lives_ok($$select eventstore.append_event('customer-1', null, 'Closed', '{}')$$,
                'the stream still takes events that name no subject');
select is((select forgotten_at from eventstore.forget_subject('c-1')), (select forgotten_at from forgotten),
          'forgetting again changes nothing and returns the first time');
select is((select events from eventstore.forget_subject('never-seen')), 0::bigint, 'a subject never named can be forgotten');
select throws_ok($$select eventstore.append_event('x-1', -1, 'T', '{}', '{"$subject": "never-seen"}')$$, 'ES451', null,
                 'and is refused afterwards');
select throws_ok($$select eventstore.forget_subject('')$$, 'ES400', null, 'an empty subject is ES400');


-- ---- a hostile search_path changes nothing ----
begin;
create function public.pgp_sym_encrypt(text, text, text) returns bytea language sql return '\x00'::bytea;
create function public.pgp_sym_decrypt(bytea, text) returns text language sql return '[[[], "evil"]]'::text;
create function public.gen_random_bytes(integer) returns bytea language sql return '\x0000'::bytea;
create function public.encode(bytea, text) returns text language sql return 'evil';
create function public.jsonb_set(jsonb, text[], jsonb) returns jsonb language sql return '"evil"'::jsonb;
create function public.session_user() returns text language sql return 'evil';
set local search_path = pg_temp, public, pg_catalog;
select eventstore.append_event('hostile-1', -1, 'T', '{"email": "e@example.com", "k": 1}',
                               '{"$subject": "c-h", "$personal": ["email"]}');
select is((select data from eventstore.read_stream('hostile-1')), '{"email": "e@example.com", "k": 1}'::jsonb,
          'a round trip under a hostile search_path uses pgcrypto and pg_catalog');
select is((select octet_length(key) from eventstore.subject_keys where subject = 'c-h'), 32,
          'the key comes from pgcrypto');
select eventstore.forget_subject('c-h');
select is((select forgotten_by from eventstore.subject_keys where subject = 'c-h'),
          pg_catalog.session_user()::text, 'forget_subject records the real session user');
select is((select data from eventstore.read_stream('hostile-1')), '{"email": {"$redacted": true}, "k": 1}'::jsonb,
          'and the marker after forgetting');
rollback;

select * from finish();
