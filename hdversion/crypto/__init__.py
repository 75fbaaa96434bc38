"""Client-side encryption of a remote (issue 27): the master key of an encrypted remote and
what derives from it (`master.py`), the sealed object and record format (`sealing.py`), the
key records that wrap the master key (`keys.py`). Pure: no I/O but what a caller hands in;
`datastore` applies it to stores, `config` says where a user's keys are."""
