"""Letters: the notice on paper for the recipients of a send run email cannot reach.

1. ``batches``: who needs a letter (no email address, or the email bounced, was dropped or
   refused, and a postal address), and :func:`prepare`, which puts them into batches of up to
   ``batch_size`` letters, each delivery in at most one batch ever.
2. ``rendering``: :func:`render_next` renders the oldest waiting batch (a background worker
   calls it until it returns False): ONE PDF with a letter per recipient, each from exactly the
   letter legal approved, and a manifest CSV saying which pages are whose.
3. ``files``: the manifest, and the PDF and manifest as an admin downloads them.
4. ``progress``: a run's batches and how far their rendering has got.

This package's names are imported from here (``from composer.delivery import letters``); its
modules are how the code is laid out. The tables are ``composer.models.letters``. No Flask.
"""

from __future__ import annotations

from composer.delivery.letters.batches import DEFAULT_BATCH_SIZE as DEFAULT_BATCH_SIZE
from composer.delivery.letters.batches import NEEDS_LETTER as NEEDS_LETTER
from composer.delivery.letters.batches import REASON_WORDS as REASON_WORDS
from composer.delivery.letters.batches import LetterNeeds as LetterNeeds
from composer.delivery.letters.batches import LettersRefused as LettersRefused
from composer.delivery.letters.batches import Prepared as Prepared
from composer.delivery.letters.batches import needs as needs
from composer.delivery.letters.batches import prepare as prepare
from composer.delivery.letters.batches import retry as retry
from composer.delivery.letters.files import FILES as FILES
from composer.delivery.letters.files import MANIFEST_HEADER as MANIFEST_HEADER
from composer.delivery.letters.files import MAX_ADDRESS_LINES as MAX_ADDRESS_LINES
from composer.delivery.letters.files import LetterRow as LetterRow
from composer.delivery.letters.files import file_content as file_content
from composer.delivery.letters.files import file_name as file_name
from composer.delivery.letters.files import manifest_csv as manifest_csv
from composer.delivery.letters.files import record_download as record_download
from composer.delivery.letters.progress import LetterProgress as LetterProgress
from composer.delivery.letters.progress import batches as batches
from composer.delivery.letters.progress import is_rendering as is_rendering
from composer.delivery.letters.progress import progress as progress
from composer.delivery.letters.progress import state_counts as state_counts
from composer.delivery.letters.rendering import MAX_ATTEMPTS as MAX_ATTEMPTS
from composer.delivery.letters.rendering import RENDER_WAIT_SECONDS as RENDER_WAIT_SECONDS
from composer.delivery.letters.rendering import SECONDS_PER_LETTER as SECONDS_PER_LETTER
from composer.delivery.letters.rendering import LetterFor as LetterFor
from composer.delivery.letters.rendering import letters_for_run as letters_for_run
from composer.delivery.letters.rendering import print_date as print_date
from composer.delivery.letters.rendering import refusal_message as refusal_message
from composer.delivery.letters.rendering import render_batch as render_batch
from composer.delivery.letters.rendering import render_next as render_next
from composer.delivery.letters.rendering import render_next_batch as render_next_batch
from composer.delivery.letters.rendering import render_timeout as render_timeout
