"""Families of classes that register themselves by name, so that a saved model can
rebuild its prior and likelihood from a name: ``class MyPrior(Prior, name="mine")``."""


class Registered:
    """Subclasses given a ``name`` are recorded under it in the family's ``registry``."""

    name: str = ""
    registry: dict

    def __init_subclass__(cls, name: str | None = None, **kwargs):
        super().__init_subclass__(**kwargs)
        if name is not None:
            cls.name = name
            cls.registry[name] = cls
