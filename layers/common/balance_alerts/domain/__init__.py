"""Pure domain code: no boto3, no I/O. Given a state and an entry (or a time), return a new
state and the notices that became due."""
