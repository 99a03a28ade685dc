"""Management commands of the results app (``manage.py recover_chords``)."""
