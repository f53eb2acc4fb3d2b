-- Sample database "school": courses, teachers and enrollments. Part of sqlrl's bundled sample (CC0, written for sqlrl).
CREATE TABLE teachers (
  teacher_id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  department TEXT NOT NULL,
  hired_year INTEGER NOT NULL
);
CREATE TABLE courses (
  course_id INTEGER PRIMARY KEY,
  title TEXT NOT NULL,
  credits INTEGER NOT NULL,
  teacher_id INTEGER REFERENCES teachers(teacher_id)
);
CREATE TABLE students (
  student_id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  major TEXT NOT NULL,
  year INTEGER NOT NULL
);
CREATE TABLE enrollments (
  student_id INTEGER NOT NULL REFERENCES students(student_id),
  course_id INTEGER NOT NULL REFERENCES courses(course_id),
  grade REAL,
  PRIMARY KEY (student_id, course_id)
);
INSERT INTO teachers VALUES
  (1, 'Dr. Okafor', 'Mathematics', 2010), (2, 'Dr. Lindqvist', 'Physics', 2015), (3, 'Ms. Duarte', 'History', 2018),
  (4, 'Mr. Haddad', 'Mathematics', 2021), (5, 'Dr. Ivanova', 'Computer Science', 2012);
INSERT INTO courses VALUES
  (10, 'Calculus I', 4, 1), (11, 'Linear Algebra', 3, 4), (12, 'Mechanics', 4, 2), (13, 'World History', 3, 3),
  (14, 'Databases', 3, 5), (15, 'Algorithms', 4, 5), (16, 'Statistics', 3, 1), (17, 'Art Appreciation', 2, NULL);
INSERT INTO students VALUES
  (1, 'Ana Lima', 'Computer Science', 2), (2, 'Ben Ortiz', 'Physics', 3), (3, 'Chloe Dubois', 'History', 1),
  (4, 'David Osei', 'Mathematics', 4), (5, 'Eva Horvath', 'Computer Science', 1), (6, 'Farid Rahimi', 'Mathematics', 2),
  (7, 'Grace Liu', 'Physics', 2), (8, 'Hugo Weber', 'History', 3), (9, 'Ines Moreau', 'Computer Science', 4),
  (10, 'Jonas Park', 'History', 1);
INSERT INTO enrollments VALUES
  (1, 14, 3.7), (1, 15, 3.3), (1, 10, 3.0), (2, 12, 3.8), (2, 10, 2.7), (3, 13, 3.9), (4, 11, 3.5), (4, 16, 4.0),
  (4, 10, 3.6), (5, 14, 2.9), (5, 10, NULL), (6, 11, 3.1), (6, 16, 2.8), (7, 12, 3.4), (7, 11, 3.0), (8, 13, 3.2),
  (9, 15, 3.9), (9, 14, 4.0), (9, 16, 3.5);
