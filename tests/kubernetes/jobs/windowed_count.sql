-- A checkpointed windowed count over a throttled sequence, written with the exactly-once
-- filesystem sink. run.sh renders it with envsubst: OUTPUT_PATH (a local path or s3://...) and
-- ROWS_PER_SECOND (the cluster runs throttle it so there is time to kill a pod mid-job; the
-- embedded reference run does not). 60000 rows -> 4201 lines, whatever the parallelism.
SET 'execution.checkpointing.interval' = '1s';
SET 'restart-strategy.type' = 'fixed-delay';
SET 'restart-strategy.fixed-delay.attempts' = '10';
SET 'restart-strategy.fixed-delay.delay' = '500 ms';
CREATE TABLE src (
    id BIGINT,
    ts AS CAST(FROM_UNIXTIME(id / 100) AS TIMESTAMP(3)),
    WATERMARK FOR ts AS ts
) WITH (
    'connector' = 'datagen',
    'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '60000',
    'rows-per-second' = '${ROWS_PER_SECOND}'
);
CREATE VIEW keyed AS SELECT id % 7 AS k, id, ts FROM src;
CREATE TABLE out_t (k BIGINT, n BIGINT, s BIGINT, ws TIMESTAMP(3)) WITH (
    'connector' = 'filesystem', 'path' = '${OUTPUT_PATH}', 'format' = 'csv'
);
INSERT INTO out_t
SELECT k, COUNT(*), SUM(id), window_start
FROM TABLE(TUMBLE(TABLE keyed, DESCRIPTOR(ts), INTERVAL '1' SECOND))
GROUP BY k, window_start, window_end;
