"""Who is calling: principals, API tokens and sign-in, with thin adapters for Flask and gRPC."""
