"""The Omniboard web dashboard over tunelab's database: install it, start it on loopback, register columns."""
