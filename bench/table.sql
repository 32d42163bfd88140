-- The benchmark's rows: payments behind the reporting view revenue_transactions. --rows of them
-- for the benchmark organisation and a tenth as many for a second one, their times interleaved
-- with the first's, so the view's organisation filter has rows to leave out; the second's
-- transaction ids start FOREIGN- so an export can be searched for them. Run by bench/exports.py
-- as the service's user, which binds the values and reloads only when the counts differ.
-- mod() rather than the percent operator: psycopg2 reads a percent sign anywhere in the text,
-- comments included, as the start of a parameter.
DELETE FROM events_revenueanalytics WHERE organization_id IN (%(bench)s, %(other)s);

INSERT INTO events_revenueanalytics (
    organization_id, transaction_id, timestamp, revenue_source, amount, currency,
    payment_method, customer_id, received_at
)
SELECT
    %(bench)s,
    'T' || lpad(n::text, 9, '0'),
    timestamptz '2025-01-01 08:00:00+00' + n * interval '10 seconds',
    (ARRAY['membership', 'equipment_usage', 'workshops', 'materials', 'other'])[mod(n, 5) + 1],
    round(mod(n * 1.37, 10000), 2),
    (ARRAY['EUR', 'EUR', 'EUR', 'GBP', 'USD', 'CHF', 'EUR'])[mod(n, 7) + 1],
    (ARRAY['card', 'sepa', 'cash', 'invoice'])[mod(n, 4) + 1],
    'Customer ' || lpad(mod(n, 9973)::text, 4, '0') || ' Ltd',
    timestamptz '2025-01-01 08:00:03+00' + n * interval '10 seconds'
FROM generate_series(1, %(rows)s) AS n;

INSERT INTO events_revenueanalytics (
    organization_id, transaction_id, timestamp, revenue_source, amount, currency,
    payment_method, customer_id, received_at
)
SELECT
    %(other)s,
    'FOREIGN-' || n,
    timestamptz '2025-01-01 08:00:05+00' + n * interval '100 seconds',
    'other',
    mod(n, 500),
    'EUR',
    'card',
    'Neighbour ' || mod(n, 97),
    timestamptz '2025-01-01 08:00:05+00' + n * interval '100 seconds'
FROM generate_series(1, %(other_rows)s) AS n;
