-- Sample database "shop": a small online store. Part of sqlrl's bundled sample (CC0, written for sqlrl).
CREATE TABLE customers (
  customer_id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  city TEXT NOT NULL,
  joined_year INTEGER NOT NULL
);
CREATE TABLE products (
  product_id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  category TEXT NOT NULL,
  price REAL NOT NULL
);
CREATE TABLE orders (
  order_id INTEGER PRIMARY KEY,
  customer_id INTEGER NOT NULL REFERENCES customers(customer_id),
  order_date TEXT NOT NULL,
  status TEXT NOT NULL
);
CREATE TABLE order_items (
  order_id INTEGER NOT NULL REFERENCES orders(order_id),
  product_id INTEGER NOT NULL REFERENCES products(product_id),
  quantity INTEGER NOT NULL,
  PRIMARY KEY (order_id, product_id)
);
INSERT INTO customers VALUES
  (1, 'Alice Martin', 'Lyon', 2019), (2, 'Bruno Costa', 'Porto', 2020), (3, 'Chen Wei', 'Lyon', 2021),
  (4, 'Dana Kim', 'Seoul', 2018), (5, 'Emil Novak', 'Prague', 2021), (6, 'Fatima Zahra', 'Porto', 2022),
  (7, 'Gustav Berg', 'Oslo', 2020), (8, 'Hana Sato', 'Seoul', 2023);
INSERT INTO products VALUES
  (1, 'Desk Lamp', 'home', 24.5), (2, 'Office Chair', 'furniture', 149.0), (3, 'Notebook', 'stationery', 3.2),
  (4, 'Fountain Pen', 'stationery', 35.0), (5, 'Bookshelf', 'furniture', 89.9), (6, 'Coffee Mug', 'home', 8.0),
  (7, 'Standing Desk', 'furniture', 399.0), (8, 'Pencil Case', 'stationery', 6.5), (9, 'Wall Clock', 'home', 19.9),
  (10, 'Paper Clips', 'stationery', 1.5);
INSERT INTO orders VALUES
  (101, 1, '2023-01-14', 'delivered'), (102, 2, '2023-02-02', 'delivered'), (103, 1, '2023-03-21', 'cancelled'),
  (104, 3, '2023-03-30', 'delivered'), (105, 4, '2023-04-11', 'shipped'), (106, 5, '2023-05-05', 'delivered'),
  (107, 2, '2023-05-19', 'shipped'), (108, 6, '2023-06-01', 'pending'), (109, 4, '2023-06-15', 'delivered'),
  (110, 7, '2023-07-04', 'delivered'), (111, 3, '2023-07-22', 'cancelled'), (112, 1, '2023-08-09', 'delivered');
INSERT INTO order_items VALUES
  (101, 1, 2), (101, 3, 10), (102, 2, 1), (103, 7, 1), (104, 4, 1), (104, 8, 2), (105, 5, 2), (105, 6, 4),
  (106, 3, 5), (107, 9, 1), (107, 6, 2), (108, 2, 2), (109, 7, 1), (109, 1, 1), (110, 4, 3), (111, 5, 1),
  (112, 6, 6), (112, 3, 3);
