-- eventstore.raise_wrong_expected_version(stream_id, expected_version, reason,
-- actual_version): raises ES409 for a stream whose version did not match.
--
-- Guarantees: always raises. The message names the stream, the expected and the actual
-- version; DETAIL is a JSON object {"stream_id", "expected_version", "actual_version"} so
-- a client in any language can retry without another round trip. actual_version is the
-- stream's version as the caller just read it; NULL reads it here
-- (eventstore.stream_version). Passing it spares a conflict, the common outcome of a
-- race, a second read.
create or replace function eventstore.raise_wrong_expected_version(
    stream_id text,
    expected_version bigint,
    reason text default null,
    actual_version bigint default null
)
returns void
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
    v_actual bigint := coalesce(raise_wrong_expected_version.actual_version,
                                eventstore.stream_version(raise_wrong_expected_version.stream_id));
begin
    raise exception using
        errcode = 'ES409',
        message = format('wrong expected version for stream %s: expected %s, actual %s%s',
                         quote_literal(raise_wrong_expected_version.stream_id),
                         case raise_wrong_expected_version.expected_version
                             when -1 then '-1 (no stream)'
                             when -2 then '-2 (stream exists)'
                             else coalesce(raise_wrong_expected_version.expected_version::text, 'any')
                         end,
                         v_actual,
                         coalesce(' (' || raise_wrong_expected_version.reason || ')', '')),
        detail = json_build_object('stream_id', raise_wrong_expected_version.stream_id,
                                   'expected_version', raise_wrong_expected_version.expected_version,
                                   'actual_version', v_actual)::text,
        hint = format('Reload the stream (now at version %s), decide again, and append with that expected version.',
                      v_actual);
end;
$$;

comment on function eventstore.raise_wrong_expected_version(text, bigint, text, bigint) is
    'Raises ES409 with the stream''s actual version in the message and, as JSON, in DETAIL.';
