-- Legacy group windows: HOP with HOP_START / HOP_END.
CREATE TABLE legacy_hop (
  auction BIGINT,
  wstart TIMESTAMP(3),
  wend TIMESTAMP(3),
  bids BIGINT
) WITH ('connector' = 'blackhole');

INSERT INTO legacy_hop
SELECT auction,
       HOP_START(`dateTime`, INTERVAL '1' SECOND, INTERVAL '3' SECOND),
       HOP_END(`dateTime`, INTERVAL '1' SECOND, INTERVAL '3' SECOND),
       COUNT(*)
FROM bid
GROUP BY auction, HOP(`dateTime`, INTERVAL '1' SECOND, INTERVAL '3' SECOND);
