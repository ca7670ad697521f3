-- A small bounded job: 100000 generated rows into a blackhole (session cluster, Helm).
CREATE TABLE src (id BIGINT, v STRING) WITH (
    'connector' = 'datagen', 'number-of-rows' = '100000', 'rows-per-second' = '1000000'
);
CREATE TABLE sink (id BIGINT, v STRING) WITH ('connector' = 'blackhole');
INSERT INTO sink SELECT id, v FROM src;
