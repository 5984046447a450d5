"""Built-in demo: our own example inputs and the offline experiment file."""
