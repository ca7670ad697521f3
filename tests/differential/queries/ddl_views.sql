-- The person, auction and bid streams of the Nexmark table, for Riffle's own differential cases.
CREATE VIEW person AS
SELECT
    person.id,
    person.name,
    person.city,
    person.state,
    `dateTime`
FROM ${NEXMARK_TABLE} WHERE event_type = 0;

CREATE VIEW auction AS
SELECT
    auction.id,
    auction.seller,
    auction.category,
    `dateTime`,
    auction.expires
FROM ${NEXMARK_TABLE} WHERE event_type = 1;

CREATE VIEW bid AS
SELECT
    bid.auction,
    bid.bidder,
    bid.price,
    bid.channel,
    `dateTime`
FROM ${NEXMARK_TABLE} WHERE event_type = 2;
