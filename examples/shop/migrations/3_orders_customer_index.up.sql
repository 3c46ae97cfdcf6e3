-- Runs outside a transaction: CREATE INDEX CONCURRENTLY cannot run in one.
CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_customer_id_idx ON orders (customer_id);
