"""Guichet: public procedures online, from filing to decision."""
