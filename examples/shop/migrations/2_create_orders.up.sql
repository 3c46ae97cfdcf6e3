CREATE TABLE orders (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES customer (id),
    total_cents bigint NOT NULL CHECK (total_cents >= 0),
    placed_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE orders IS 'One checkout; amounts in cents';

-- keep placed_at current on update; the body holds semicolons
CREATE FUNCTION touch_placed_at() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
    NEW.placed_at := now();
    RETURN NEW;
END;
$body$;
