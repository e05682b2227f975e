"""A stand-in for matplotlib (not installed for the tests): the compatibility suite imports
programs that import it at the top but never draws. Nothing here is used."""


def use(*args, **kwargs):
    pass
