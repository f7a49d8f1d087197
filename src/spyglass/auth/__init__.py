"""Who is calling: identity from a token, from trusted headers, or nobody."""
