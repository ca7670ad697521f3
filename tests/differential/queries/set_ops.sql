-- SELECT DISTINCT, UNION ALL of append-only and of updating inputs, and UNION (duplicates
-- removed), as Flink runs them on streams.
CREATE TABLE set_distinct (
  bidder BIGINT,
  channel VARCHAR
) WITH ('connector' = 'blackhole');

CREATE TABLE set_union_all (
  id BIGINT,
  kind VARCHAR,
  t TIMESTAMP(3)
) WITH ('connector' = 'blackhole');

CREATE TABLE set_union_updating (
  k BIGINT,
  n BIGINT
) WITH ('connector' = 'blackhole');

CREATE TABLE set_union (
  id BIGINT
) WITH ('connector' = 'blackhole');

INSERT INTO set_distinct
SELECT DISTINCT bidder, channel FROM bid;

INSERT INTO set_union_all
SELECT id, 'person', `dateTime` FROM person
UNION ALL
SELECT id, 'auction', `dateTime` FROM auction WHERE category > 11;

INSERT INTO set_union_updating
SELECT auction, COUNT(*) FROM bid GROUP BY auction
UNION ALL
SELECT seller, COUNT(*) FROM auction GROUP BY seller;

INSERT INTO set_union
SELECT seller FROM auction
UNION
SELECT id FROM person;
