"""crisiseval: measure how safely large language models handle mental-health crises."""

__version__ = "0.1.0"
