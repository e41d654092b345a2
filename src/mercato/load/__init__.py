"""The load generator behind ``mercato load``: a shopper model on Locust.

Only :mod:`mercato.load.shopper` and :mod:`mercato.load.run` import Locust, which
monkey-patches the process with gevent on import; :mod:`mercato.load.report` does not.
"""
