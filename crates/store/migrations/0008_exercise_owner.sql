-- Who posted an exercise: the name of a teacher's key (key names are never reused), which
-- alone may then change or delete it besides caller and admin keys. NULL: posted by a caller
-- or admin key (or before owners were kept); only caller and admin keys change those.
ALTER TABLE exercises ADD COLUMN owner TEXT;
