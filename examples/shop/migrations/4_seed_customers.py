"""A Python migration: seed two customers with the psycopg connection it is given."""


def up(conn):
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO customer (email) VALUES (%s)",
            [("ada@example.com",), ("grace@example.com",)],
        )


def down(conn):
    conn.execute("DELETE FROM customer WHERE email IN ('ada@example.com', 'grace@example.com')")
