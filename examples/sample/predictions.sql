SELECT count(*) FROM customers
SELECT name FROM customers WHERE city = 'Lyon'
SELECT name, price FROM products ORDER BY price DESC LIMIT 1
SELECT category, avg(price) FROM products GROUP BY category
SELECT count(*) FROM orders WHERE status = 'Delivered'
SELECT city FROM customers
SELECT name FROM customers WHERE joined_year < 2020
SELECT name FROM products WHERE price > 50 ORDER BY price DESC
SELECT count(*), c.name FROM customers c JOIN orders o ON c.customer_id = o.customer_id GROUP BY c.name
SELECT c.name FROM customers c JOIN orders o ON c.customer_id = o.customer_id GROUP BY c.name HAVING count(*) > 1
SELECT sum(quantity) FROM order_items WHERE product_id = 3
SELECT name FROM customers WHERE customer_id NOT IN (SELECT customer_id FROM orders)
SELECT name FROM products WHERE product_id NOT IN (SELECT product_id FROM order_items)
SELECT count(*) FROM products WHERE category = 'furniture'
SELECT order_date FROM orders ORDER BY order_date DESC LIMIT 1
SELECT city FROM customers GROUP BY city ORDER BY count(*) DESC LIMIT 1
SELECT sum(oi.quantity * p.price) FROM order_items oi JOIN products p ON oi.product_id = p.product_id
SELECT name FROM products WHERE price > avg(price)
SELECT count(*) FROM orders JOIN customers USING (customer_id) WHERE city = 'Porto'
SELECT status, count(*) FROM orders GROUP BY status
SELECT count(*) FROM students
SELECT title FROM courses WHERE credits = 4
SELECT name FROM teachers WHERE department = 'Mathematics'
SELECT major, count(*) FROM students GROUP BY major
SELECT t.name FROM teachers t JOIN courses c ON t.teacher_id = c.teacher_id WHERE c.title = 'Databases'
SELECT avg(grade) FROM enrollments WHERE course_id = 10
SELECT s.name FROM students s JOIN enrollments e ON s.student_id = e.student_id WHERE e.course_id = 15
SELECT c.title FROM courses c JOIN enrollments e ON c.course_id = e.course_id GROUP BY c.title ORDER BY count(*) DESC LIMIT 1
SELECT title FROM courses WHERE teacher_id = NULL
SELECT name FROM teachers ORDER BY hired_year LIMIT 3
SELECT t.name, sum(c.credits) FROM teachers t JOIN courses c ON t.teacher_id = c.teacher_id GROUP BY t.name
SELECT s.name FROM students s JOIN enrollments e ON s.student_id = e.student_id GROUP BY s.name HAVING avg(e.grade) > 3.5
SELECT name FROM students WHERE student_id NOT IN (SELECT student_id FROM enrollments)
SELECT max(grade) FROM enrollment
SELECT count(*) FROM enrollments WHERE grade IS NULL
SELECT department, count(*) FROM teachers GROUP BY department ORDER BY count(*) DESC
