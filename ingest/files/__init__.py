"""Saved registry records on disk: ``trialsite ingest file``'s reading side.

- ``reader`` — files, folders and zips → raw items (study JSON, website exports, bulk
  ``ctg-studies.json.zip``, legacy XML), recognized by content; corrupt members refused.

May import ``db`` and ``ingest``'s shared modules; never ``matching`` or ``api``.
"""
