"""The officials' platform (M14 programme, M15 evaluation and acceptance, M16 satisfaction):
accounts and roles, the database and its audit log, and the domain operations the web app calls.
No HTTP here: :mod:`lifecircle.web` is a thin shell over these functions."""
