"""drgsim.clinic: the therapy pathway as a web application."""
