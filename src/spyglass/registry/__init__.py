"""The registry: the repository ports served over HTTP(S) to API servers, and their client.

``protocol`` is the wire contract (derived from the port Protocols), ``server`` the
``spyglass registry`` application, ``trust`` who may call it, ``client`` the API
server's side, and ``repositories`` how either side picks its implementations.
"""
