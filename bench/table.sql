-- The benchmark's table: invoices in 7 columns, one of each type a report carries.
-- Run by bench/exports.py, which binds the row count and recreates the table only when its row
-- count differs. mod() rather than the percent operator: psycopg2 reads a percent sign anywhere
-- in the text, comments included, as the start of a parameter.
DROP TABLE IF EXISTS bench_invoices;

CREATE TABLE bench_invoices AS
SELECT
    n AS id,
    'Customer ' || lpad(mod(n, 9973)::text, 4, '0') || ' Ltd' AS customer,
    round(mod(n * 1.37, 10000), 2)::numeric(12, 2) AS amount,
    date '2025-01-01' + mod(n, 365) AS invoice_date,
    timestamptz '2025-01-01 08:00:00+00' + n * interval '1 minute' AS booked_at,
    mod(n, 3) <> 0 AS paid,
    (ARRAY['North', 'South', 'East', 'West', 'Central'])[mod(n, 5) + 1] AS region
FROM generate_series(1, %(rows)s) AS n;

ALTER TABLE bench_invoices ADD PRIMARY KEY (id);
ANALYZE bench_invoices;
