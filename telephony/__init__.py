"""The domain: codes, phone numbers, verifications, the store and the providers. No Flask here."""
