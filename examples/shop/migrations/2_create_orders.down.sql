DROP FUNCTION touch_placed_at();
DROP TABLE orders;
