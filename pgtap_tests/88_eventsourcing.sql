-- The SQL API of the persistence module for Python's eventsourcing library
-- (docs/eventsourcing.md): append_versioned, read_versioned, stream_log_numbers,
-- category_head, record_tracking and max_tracking_id. Statements commit (no enclosing
-- transaction) because numbering sees only ended transactions.
select plan(40);

-- append_versioned: the library's numbers ride in metadata, versions stay 0-based.
select results_eq(
    $$select stream_version from eventstore.append_versioned('app-a',
        '[{"type": "T1", "data": "s1", "metadata": {"originator_version": 1}},
          {"type": "T2", "data": "s2", "metadata": {"originator_version": 2}}]')$$,
    $$values (1::bigint)$$, 'a first batch becomes versions 0 and 1');
select results_eq(
    $$select version, (metadata ->> 'originator_version')::bigint from eventstore.read_stream('app-a')$$,
    $$values (0::bigint, 1::bigint), (1, 2)$$, 'each event keeps its originator version in metadata');
select throws_ok(
    $$select eventstore.append_versioned('app-a', '[{"type": "T", "data": 1, "metadata": {"originator_version": 2}}]')$$,
    'ES409', null, 'an originator version already stored is ES409');
select throws_ok(
    $$select eventstore.append_versioned('app-a', '[{"type": "T", "data": 1, "metadata": {"originator_version": 1}}]')$$,
    'ES409', null, 'and so is one below the last');
select throws_ok(
    $$select eventstore.append_versioned('app-a',
        '[{"type": "T", "data": 1, "metadata": {"originator_version": 3}},
          {"type": "T", "data": 1, "metadata": {"originator_version": 3}}]')$$,
    'ES409', null, 'a batch repeating a number is ES409');
select throws_ok(
    $$select eventstore.append_versioned('app-a',
        '[{"type": "T", "data": 1, "metadata": {"originator_version": 4}},
          {"type": "T", "data": 1, "metadata": {"originator_version": 3}}]')$$,
    'ES409', null, 'a batch whose numbers decrease is ES409');
select is((select eventstore.stream_version('app-a')), 1::bigint, 'a refused batch writes nothing');
select throws_ok(
    $$select eventstore.append_versioned('app-b', '[{"type": "T", "data": 1}]')$$,
    'ES400', null, 'an event without originator_version is ES400');
select throws_ok(
    $$select eventstore.append_versioned('app-b', '[{"type": "T", "data": 1, "metadata": {"originator_version": 1.5}}]')$$,
    'ES400', null, 'a fractional originator_version is ES400');
select throws_ok(
    $$select eventstore.append_versioned('app-b', '[{"type": "T", "data": 1, "metadata": {"originator_version": "1"}}]')$$,
    'ES400', null, 'a string originator_version is ES400');
select throws_ok(
    $$select eventstore.append_versioned('app-b',
        '[{"type": "T", "data": 1, "metadata": {"originator_version": 9223372036854775808}}]')$$,
    'ES400', null, 'an originator_version beyond bigint is ES400');
select throws_ok(
    $$select eventstore.append_versioned('app-b', '{"type": "T"}')$$,
    'ES400', null, 'events that are not an array are ES400');
select throws_ok(
    $$select eventstore.append_versioned('-bad', '[{"type": "T", "data": 1, "metadata": {"originator_version": 1}}]')$$,
    'ES400', null, 'the stream id rule holds (append_to_stream validates)');
select lives_ok(
    $$select eventstore.append_versioned('app-b',
        '[{"type": "T", "data": 1, "metadata": {"originator_version": -9223372036854775808}},
          {"type": "T", "data": 1, "metadata": {"originator_version": 9223372036854775807}}]')$$,
    'any bigint is an originator version');
select lives_ok($$select eventstore.append_to_stream('plain-1', -1, '[{"type": "T", "data": 1}]')$$,
                'a stream written by append_to_stream ...');
select throws_ok(
    $$select eventstore.append_versioned('plain-1', '[{"type": "T", "data": 1, "metadata": {"originator_version": 5}}]')$$,
    'ES409', null, '... is refused by append_versioned');

-- read_versioned: the range (gt, lte] of originator versions, sparse or consecutive.
select eventstore.append_versioned('snap-x',
    '[{"type": "S", "data": 2, "metadata": {"originator_version": 2}},
      {"type": "S", "data": 4, "metadata": {"originator_version": 4}},
      {"type": "S", "data": 9, "metadata": {"originator_version": 9}}]');
select results_eq($$select data::int from eventstore.read_versioned('snap-x')$$,
                  $$values (2), (4), (9)$$, 'unbounded: every event, in order');
select results_eq($$select data::int from eventstore.read_versioned('snap-x', lte => 8, backward => true, max_count => 1)$$,
                  $$values (4)$$, 'the newest at or below a number (a snapshot lookup)');
select results_eq($$select data::int from eventstore.read_versioned('snap-x', lte => 1, backward => true)$$,
                  $$select 1 where false$$, 'none at or below a number below the first');
select results_eq($$select data::int from eventstore.read_versioned('snap-x', gt => 2)$$,
                  $$values (4), (9)$$, 'above a number');
select results_eq($$select data::int from eventstore.read_versioned('snap-x', gt => 3, lte => 4)$$,
                  $$values (4)$$, 'a range');
select results_eq($$select data::int from eventstore.read_versioned('snap-x', gt => 9)$$,
                  $$select 1 where false$$, 'above the last: none');
select results_eq($$select data::int from eventstore.read_versioned('snap-x', gt => -9223372036854775808, lte => 9223372036854775807)$$,
                  $$values (2), (4), (9)$$, 'the extreme bounds');
select results_eq($$select data::int from eventstore.read_versioned('snap-x', backward => true)$$,
                  $$values (9), (4), (2)$$, 'backward');
select results_eq($$select data::text from eventstore.read_versioned('app-a', gt => 1, lte => 2)$$,
                  $$values ('"s2"')$$, 'consecutive numbers');
select results_eq($$select count(*)::int from eventstore.read_versioned('nothing-here')$$,
                  $$values (0)$$, 'an absent stream reads as no rows');
select throws_ok($$select * from eventstore.read_versioned('snap-x', backward => null)$$, 'ES400', null,
                 'a NULL direction is ES400');
select throws_ok($$select * from eventstore.read_versioned('snap-x', max_count => 0)$$, 'ES400', null,
                 'max_count is checked');

-- stream_log_numbers and category_head: the log numbers of what was appended.
select results_eq($$select eventstore.stream_log_numbers('app-a', 0, 1)$$,
                  $$values ((select array_agg(log_number order by version) from eventstore.read_all()
                             where stream_id = 'app-a'))$$,
                  'the log numbers of a version range, in version order, are read_all''s');
select is(eventstore.stream_log_numbers('app-a', 5, 9), '{}'::bigint[], 'an empty range is an empty array');
select is(eventstore.category_head('app'),
          (select max(log_number) from eventstore.read_all() where stream_id like 'app-%'),
          'category_head is the newest log number of the category');
select is(eventstore.category_head('nobody'), null, 'NULL for a category without events');
select throws_ok($$select eventstore.category_head('a-b')$$, 'ES400', null, 'a category has no ''-''');

-- record_tracking and max_tracking_id.
select is(eventstore.max_tracking_id('down', 'up'), null, 'no tracking yet: NULL');
select lives_ok($$select eventstore.record_tracking('down', 'up', 21)$$, 'record a tracking');
select lives_ok($$select eventstore.record_tracking('down', 'up', 24)$$, 'move it forward (gaps allowed)');
select throws_ok($$select eventstore.record_tracking('down', 'up', 24)$$, 'ES409', null,
                 'the same notification again is ES409');
select throws_ok($$select eventstore.record_tracking('down', 'up', 23)$$, 'ES409', null,
                 'an older one is ES409 (no filling in)');
select is(eventstore.max_tracking_id('down', 'up'), 24::bigint, 'the newest is kept');
select throws_ok($$select eventstore.record_tracking('', 'up', 1)$$, 'ES400', null, 'names are checked');

select * from finish();
