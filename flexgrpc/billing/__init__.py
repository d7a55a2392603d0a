"""Billing (SPEC §6): the monthly close, the card on file through Stripe, webhooks and the 402
gate. ``assembly.build_billing`` wires it; see that module for the public surface.
"""
