"""Chords that fire even when the worker counting their last header task dies.

New in this package: ``ChordCounter.callback`` keeps the serialized callback, ``date_claimed``
says who took on sending it and when, and ``date_done`` when it was sent (or failed). Chord
recovery (``backend.cleanup()``, ``manage.py recover_chords``) sends the callbacks of finished
chords that nobody sent. Every column is nullable, so the old package, which knows nothing of
them, keeps creating counters after a downgrade (``migrate django_celery_results 0014``).
"""

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    """Add ``chordcounter.callback``, ``date_claimed`` and ``date_done``."""

    dependencies = (("django_celery_results", "0015_chord_parts"),)

    operations = (
        migrations.AddField(
            model_name="chordcounter",
            name="callback",
            field=models.TextField(
                blank=True,
                default=None,
                null=True,
                verbose_name="callback",
                help_text="The chord's callback signature, serialized, with its own task id.",
            ),
        ),
        migrations.AddField(
            model_name="chordcounter",
            name="date_claimed",
            field=models.DateTimeField(
                blank=True,
                default=None,
                null=True,
                verbose_name="callback claimed",
                help_text="When a worker or recovery took on sending the callback.",
            ),
        ),
        migrations.AddField(
            model_name="chordcounter",
            name="date_done",
            field=models.DateTimeField(
                blank=True,
                default=None,
                null=True,
                verbose_name="callback done",
                help_text="When the callback was sent, or its ChordError stored.",
            ),
        ),
    )
