-- Filing a batch of reports on PostgreSQL (crates/store/src/events/batch_write.rs): ids
-- for $1 events, then each table's rows from arrays, the child rows joined to their event by
-- its ordinal in the batch; answers the ids in batch order.
--
-- It is a function for one reason: SET plan_cache_mode. Sent as a prepared statement, the
-- chain was planned anew on every call (the planner's custom plans, which know each
-- array's length, always looked cheaper than the generic one), and planning took about a
-- quarter of PostgreSQL's time under load. Inside the function its one generic plan is kept
-- for the session.
CREATE FUNCTION linli_file_reports(
    bigint,
    text[], text[], text[], float8[], float8[], int8[], text[], int8[], int8[], int8[], text[],
    int8[], int8[], int8[], int8[], text[], text[], bytea[], int8[], int8[], int8[], int8[],
    int8[], int8[], int8[], int8[], bool[], int8[], text[],
    int8[], int8[], int8[], text[], text[], text[], text[], text[], text[],
    int8[], text[], text[], int8[], int8[], int8[], int8[],
    int8[], int8[], int8[], text[], int8[], int8[], int8[], int8[], int8[], int8[], int8[],
    int8[], int8[], int8[],
    int8[], int8[], int8[], int8[], int8[]
) RETURNS SETOF bigint
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $fn$
BEGIN
RETURN QUERY
WITH ids AS MATERIALIZED (
    SELECT ord, nextval(pg_get_serial_sequence('events', 'id')) AS id
    FROM generate_series(1, $1::bigint) AS ord
),
ev AS (
    INSERT INTO events (id, category_code, description, source, lon, lat, cell, address, building_id,
        region_key, region_level, state, unit_level, unit_key, department_id, reporter_id, contact_name,
        contact_phone_masked, contact_phone_cipher, open311_key_id, created_at, deadline_start, due_at,
        promised_at, grace_ms, timer_at, closed_at, closed_on_time, updated_at, attributes)
    SELECT ids.id, e.category_code, e.description, e.source, e.lon, e.lat, e.cell, e.address, e.building_id,
        e.region_key, e.region_level, e.state, e.unit_level, e.unit_key, e.department_id, e.reporter_id,
        e.contact_name, e.contact_phone_masked, e.contact_phone_cipher, e.open311_key_id, e.created_at,
        e.deadline_start, e.due_at, e.promised_at, e.grace_ms, e.timer_at, e.closed_at, e.closed_on_time,
        e.updated_at, e.attributes
    FROM unnest($2::text[], $3::text[], $4::text[], $5::float8[], $6::float8[], $7::int8[], $8::text[],
        $9::int8[], $10::int8[], $11::int8[], $12::text[], $13::int8[], $14::int8[], $15::int8[], $16::int8[],
        $17::text[], $18::text[], $19::bytea[], $20::int8[], $21::int8[], $22::int8[], $23::int8[], $24::int8[],
        $25::int8[], $26::int8[], $27::int8[], $28::bool[], $29::int8[], $30::text[])
        WITH ORDINALITY AS e(category_code, description, source, lon, lat, cell, address, building_id,
        region_key, region_level, state, unit_level, unit_key, department_id, reporter_id, contact_name,
        contact_phone_masked, contact_phone_cipher, open311_key_id, created_at, deadline_start, due_at,
        promised_at, grace_ms, timer_at, closed_at, closed_on_time, updated_at, attributes, ord)
    JOIN ids USING (ord)
    ORDER BY ord
),
fl AS (
    INSERT INTO event_flow (event_id, at, actor_id, actor_name, action, from_state, to_state, note, detail)
    SELECT ids.id, f.at, f.actor_id, f.actor_name, f.action, f.from_state, f.to_state, f.note, f.detail
    FROM unnest($31::int8[], $32::int8[], $33::int8[], $34::text[], $35::text[], $36::text[], $37::text[],
        $38::text[], $39::text[])
        WITH ORDINALITY AS f(ord, at, actor_id, actor_name, action, from_state, to_state, note, detail, n)
    JOIN ids USING (ord)
    ORDER BY f.n
    RETURNING id, event_id, action
),
ph AS (
    INSERT INTO event_photos (event_id, flow_id, sha256, format, bytes, width, height, created_at)
    SELECT fl.event_id, fl.id, p.sha256, p.format, p.bytes, p.width, p.height, p.at
    FROM unnest($40::int8[], $41::text[], $42::text[], $43::int8[], $44::int8[], $45::int8[], $46::int8[])
        WITH ORDINALITY AS p(ord, sha256, format, bytes, width, height, at, n)
    JOIN ids USING (ord)
    JOIN fl ON fl.event_id = ids.id AND fl.action = 'report'
    ORDER BY p.n
),
de AS (
    INSERT INTO event_stat_deltas (region_key, region_level, department_id, category_code, day,
        received, dropped, closed, closed_on_time, resolved, rated, satisfied, handling_ms, bucket)
    SELECT * FROM unnest($47::int8[], $48::int8[], $49::int8[], $50::text[], $51::int8[], $52::int8[],
        $53::int8[], $54::int8[], $55::int8[], $56::int8[], $57::int8[], $58::int8[], $59::int8[], $60::int8[])
),
inbox AS (
    INSERT INTO notifications (at, unit_level, unit_key, department_id, event_id, kind)
    SELECT n.at, n.unit_level, n.unit_key, n.department_id, ids.id, 'new'
    FROM unnest($61::int8[], $62::int8[], $63::int8[], $64::int8[], $65::int8[])
        AS n(ord, at, unit_level, unit_key, department_id)
    JOIN ids USING (ord)
)
SELECT id FROM ids ORDER BY ord;
END
$fn$;
