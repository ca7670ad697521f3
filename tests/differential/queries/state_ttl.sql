-- State TTL, where its effect is deterministic: sources paced at 10 rows per second, so a
-- key's rows arrive either together or seconds apart, never near the TTL.
-- ttl_count (table.exec.state.ttl = 1 s): each key comes twice, 2 s apart; its count expired
-- in between, so it starts over (+I 1 again; the first result stays, as in Flink).
-- ttl_join (STATE_TTL hint, 1.5 s per side): even keys meet at once and join; odd keys meet
-- 3 s apart, after the first row was forgotten, and do not.
SET 'table.exec.state.ttl' = '1 s';

CREATE TABLE ttl_a (id BIGINT) WITH (
  'connector' = 'datagen', 'rows-per-second' = '10', 'scan.parallelism' = '1',
  'fields.id.kind' = 'sequence', 'fields.id.start' = '0', 'fields.id.end' = '59');

CREATE TABLE ttl_b (id BIGINT) WITH (
  'connector' = 'datagen', 'rows-per-second' = '10', 'scan.parallelism' = '1',
  'fields.id.kind' = 'sequence', 'fields.id.start' = '0', 'fields.id.end' = '59');

CREATE TABLE ttl_count (
  k BIGINT,
  n BIGINT
) WITH ('connector' = 'blackhole');

CREATE TABLE ttl_join (
  a_id BIGINT,
  b_id BIGINT
) WITH ('connector' = 'blackhole');

INSERT INTO ttl_count
SELECT MOD(id, 20), COUNT(*) FROM ttl_a WHERE id < 40 GROUP BY MOD(id, 20);

INSERT INTO ttl_join
SELECT /*+ STATE_TTL('a' = '1500 ms', 'b' = '1500 ms') */ a.id, b.id
FROM ttl_a AS a
JOIN (SELECT id, CASE WHEN MOD(id, 2) = 0 THEN id ELSE MOD(id + 30, 60) END AS k FROM ttl_b) AS b
ON a.id = b.k;
